DROP TABLE billing.usage_totals;
