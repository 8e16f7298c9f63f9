-- Running totals of captured usage per organization, project, actor, unit and month (the
-- month the usage occurred in), kept in the transaction that captures it. The quota feed
-- reads these instead of summing the month's usage events, which grew with every request.
CREATE TABLE billing.usage_totals (
    organization_id uuid NOT NULL,
    project_id uuid NOT NULL,
    actor_kind text NOT NULL,
    actor_id text NOT NULL,
    unit text NOT NULL,
    period text NOT NULL CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    quantity numeric NOT NULL,
    PRIMARY KEY (organization_id, period, project_id, actor_kind, actor_id, unit)
);

INSERT INTO billing.usage_totals
    (organization_id, project_id, actor_kind, actor_id, unit, period, quantity)
SELECT organization_id, project_id, actor_kind, actor_id, unit,
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM'), sum(quantity)
FROM billing.usage_events
GROUP BY 1, 2, 3, 4, 5, 6;

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON billing.usage_totals TO %I', server_role);
    END IF;
END $$;
