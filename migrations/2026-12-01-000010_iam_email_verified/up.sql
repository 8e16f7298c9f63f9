-- IAM: when an account's email address was proven (by a verification link, once the platform
-- sends email). NULL means never: whoever grants such an account access is told so.
ALTER TABLE iam.users ADD COLUMN email_verified_at timestamptz;
