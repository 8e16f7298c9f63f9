-- Attempts are now counted per address and per account-from-an-address, with emails stored
-- lower-cased, so the pair needs an index of its own.
CREATE INDEX sign_in_failures_pair ON iam.sign_in_failures (client_ip, email, at);
