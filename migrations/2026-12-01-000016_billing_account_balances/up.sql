-- Running sums of the postings of every organization account, per promotional lot (the nil
-- uuid for postings of no lot), kept by the transaction that posts them. Funds are derived
-- from these instead of summing every posting an organization ever had, which each usage
-- commit did under the organization's lock and which grew with every request. Postings stay
-- the record (append-only); reconciliation checks the sums against them.
CREATE TABLE billing.account_balances (
    account_id uuid NOT NULL,
    grant_key uuid NOT NULL,
    amount_minor numeric NOT NULL,
    PRIMARY KEY (account_id, grant_key)
);

INSERT INTO billing.account_balances (account_id, grant_key, amount_minor)
SELECT p.account_id, coalesce(p.grant_id, '00000000-0000-0000-0000-000000000000'), sum(p.amount_minor)
FROM billing.postings p JOIN billing.accounts a ON a.id = p.account_id
WHERE a.organization_id IS NOT NULL
GROUP BY 1, 2;

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON billing.account_balances TO %I', server_role);
    END IF;
END $$;
