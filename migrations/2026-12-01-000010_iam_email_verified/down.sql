ALTER TABLE iam.users DROP COLUMN email_verified_at;
