DROP TABLE iam.sign_in_failures;
DROP TABLE iam.sessions;
DROP TABLE iam.platform_roles;
DROP TABLE iam.users;
