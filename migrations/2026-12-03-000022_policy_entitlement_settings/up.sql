-- Entitlements (registry family `entitlement`) as scopes set them: granted or withheld,
-- platform-wide, for a plan, an organization or a project. The most specific live setting
-- wins; where none is set, the entry's declared default applies. At most one is live per
-- entitlement and scope; a change clears the one it replaces. A setting made with platform
-- authority is `imposed`: only platform authority may replace or clear it, so an
-- organization cannot lift what an operator withheld from it.
CREATE TABLE policy.entitlement_settings (
    id uuid PRIMARY KEY,
    entitlement text NOT NULL,
    level text NOT NULL CHECK (level IN ('global', 'plan', 'organization', 'project')),
    scope_id text NOT NULL,
    organization_id uuid,
    project_id uuid,
    granted boolean NOT NULL,
    imposed boolean NOT NULL,
    reason text NOT NULL,
    author text NOT NULL,
    created_at timestamptz NOT NULL,
    cleared_at timestamptz,
    cleared_by text
);
CREATE UNIQUE INDEX entitlement_settings_live ON policy.entitlement_settings (entitlement, level, scope_id)
    WHERE cleared_at IS NULL;
CREATE INDEX entitlement_settings_by_organization ON policy.entitlement_settings (organization_id, id);

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT ON policy.entitlement_settings TO %I', server_role);
        EXECUTE format('GRANT UPDATE (cleared_at, cleared_by) ON policy.entitlement_settings TO %I', server_role);
    END IF;
END $$;
