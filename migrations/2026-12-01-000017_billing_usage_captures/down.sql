DROP INDEX billing.usage_batch;
DROP TABLE billing.usage_captures;
