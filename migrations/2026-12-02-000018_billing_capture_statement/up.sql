-- A product's usage capture as one statement, so that on the request path it is one round
-- trip committing on its own: the usage inserted (each (product, event id) once), the
-- quota feed's totals added, and a capture row written for each organization that had
-- new usage, under the journal id the caller chose for it. Before this the capture was
-- five round trips (BEGIN, three statements, COMMIT), and each statement was parsed and
-- planned anew; in PL/pgSQL the plan is kept for the session.
--
-- The caller orders the events by (product, event id) and the totals are upserted in the
-- key order the ledger's own group commit uses (bytewise, as Rust orders them), so
-- concurrent writers that meet on several rows wait for each other in one direction only. Returns the ids of the usage inserted; the rest were duplicates.
CREATE FUNCTION billing.capture_usage(
    p_ids uuid[], p_products text[], p_event_ids text[], p_units text[],
    p_quantities numeric[], p_organizations uuid[], p_departments uuid[], p_projects uuid[],
    p_actor_kinds text[], p_actor_ids text[], p_resource_types text[], p_resource_ids text[],
    p_sources text[], p_occurred timestamptz[], p_correlations text[], p_attributes jsonb[],
    p_received timestamptz, p_batch uuid, p_journals uuid[], p_journal_organizations uuid[]
) RETURNS SETOF uuid LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH inserted AS (
        INSERT INTO billing.usage_events (id, product, event_id, unit, quantity,
            organization_id, department_id, project_id, actor_kind, actor_id, resource_type,
            resource_id, usage_source, occurred_at, correlation_id, attributes, received_at,
            batch_id)
        SELECT u.*, p_received, p_batch
        FROM unnest(p_ids, p_products, p_event_ids, p_units, p_quantities, p_organizations,
            p_departments, p_projects, p_actor_kinds, p_actor_ids, p_resource_types,
            p_resource_ids, p_sources, p_occurred, p_correlations, p_attributes) AS u
        ON CONFLICT (product, event_id) DO NOTHING
        RETURNING usage_events.id, usage_events.organization_id, usage_events.project_id,
            usage_events.actor_kind, usage_events.actor_id, usage_events.unit,
            usage_events.quantity, usage_events.occurred_at
    ), totals AS (
        INSERT INTO billing.usage_totals AS t
            (organization_id, project_id, actor_kind, actor_id, unit, period, quantity)
        SELECT i.organization_id, i.project_id, i.actor_kind, i.actor_id, i.unit,
               to_char(i.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM'), sum(i.quantity)
        FROM inserted i
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY i.organization_id, i.project_id, i.actor_kind COLLATE "C",
            i.actor_id COLLATE "C", i.unit COLLATE "C",
            to_char(i.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM') COLLATE "C"
        ON CONFLICT (organization_id, period, project_id, actor_kind, actor_id, unit)
        DO UPDATE SET quantity = t.quantity + excluded.quantity
    ), captures AS (
        INSERT INTO billing.usage_captures (journal_id, batch_id, organization_id, captured_at)
        SELECT j.journal, p_batch, j.organization, p_received
        FROM unnest(p_journals, p_journal_organizations) AS j (journal, organization)
        WHERE j.organization IN (SELECT i.organization_id FROM inserted i)
    )
    SELECT i.id FROM inserted i;
END
$$;

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT EXECUTE ON FUNCTION billing.capture_usage TO %I', server_role);
    END IF;
END $$;
