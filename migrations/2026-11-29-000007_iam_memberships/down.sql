ALTER TABLE iam.api_keys DROP CONSTRAINT api_keys_one_principal;
ALTER TABLE iam.api_keys DROP COLUMN user_id;
ALTER TABLE iam.api_keys ALTER COLUMN service_account_id SET NOT NULL;
DROP TABLE iam.invitations, iam.role_bindings, iam.project_memberships, iam.org_memberships;
