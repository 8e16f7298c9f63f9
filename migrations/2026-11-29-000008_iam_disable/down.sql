ALTER TABLE iam.service_accounts DROP COLUMN disabled_at, DROP COLUMN state;
