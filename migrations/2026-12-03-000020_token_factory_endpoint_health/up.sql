-- Endpoint health shared by every server process on the database: the process that takes
-- an endpoint out of rotation takes it out for all of them, and the first probe that
-- succeeds brings it back for all. `version` orders the changes, so a process applies
-- each once and never goes back to an older one.
CREATE SEQUENCE token_factory.endpoint_health_version;
CREATE TABLE token_factory.endpoint_health (
    endpoint_id uuid PRIMARY KEY,
    healthy boolean NOT NULL,
    version bigint NOT NULL DEFAULT nextval('token_factory.endpoint_health_version'),
    changed_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON token_factory.endpoint_health TO %I', server_role);
        EXECUTE format('GRANT USAGE ON SEQUENCE token_factory.endpoint_health_version TO %I', server_role);
    END IF;
END $$;
