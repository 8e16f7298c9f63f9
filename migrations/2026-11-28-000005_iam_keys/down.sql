DROP TABLE iam.api_keys;
DROP TABLE iam.service_accounts;
