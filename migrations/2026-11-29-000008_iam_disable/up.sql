-- IAM: service accounts can be disabled; their keys then fail closed (users already have a state).
ALTER TABLE iam.service_accounts
    ADD COLUMN state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    ADD COLUMN disabled_at timestamptz;
