-- An override set with platform authority is `imposed`: only platform authority may
-- replace or clear it, so an organization cannot lift the limit an operator put on it
-- (entitlement settings follow the same rule). Who set an existing override is not
-- recorded as authority, so every existing one is taken as imposed: an operator can clear
-- one a tenant can no longer touch; the reverse would let a tenant lift an operator's.
ALTER TABLE policy.overrides ADD COLUMN imposed boolean NOT NULL DEFAULT true;
ALTER TABLE policy.overrides ALTER COLUMN imposed DROP DEFAULT;
