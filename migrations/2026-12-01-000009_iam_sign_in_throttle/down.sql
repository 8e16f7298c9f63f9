DROP INDEX iam.sign_in_failures_pair;
