ALTER TABLE policy.overrides DROP COLUMN imposed;
