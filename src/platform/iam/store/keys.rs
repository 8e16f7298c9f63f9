//! Service accounts and keys: create, issue, list, revoke; authenticate and decide.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{api_keys, organizations, projects, service_accounts};
use super::super::{ApiKeyView, Decision, IamError, IssuedKey, NewKey, Principal, ServiceAccount};
use super::read_model::{self, CHANNEL};
use super::{PgIam, random_hex};
use crate::platform::audit::{Actor, NewEvent};

const SA_CREATED: &str = "platform.service_account.created";
const KEY_ISSUED: &str = "platform.api_key.issued";
const KEY_REVOKED: &str = "platform.api_key.revoked";
const KEY_ROTATED: &str = "platform.api_key.rotated";

type KeyRow = (
    Uuid,
    String,
    String,
    Uuid,
    Uuid,
    Uuid,
    Uuid,
    Vec<String>,
    Option<Vec<String>>,
    Option<time::OffsetDateTime>,
    Option<time::OffsetDateTime>,
    time::OffsetDateTime,
);

fn view(r: KeyRow) -> ApiKeyView {
    ApiKeyView {
        id: r.0,
        prefix: r.1,
        name: r.2,
        organization_id: r.3,
        department_id: r.4,
        project_id: r.5,
        service_account_id: r.6,
        scopes: r.7,
        model_allowlist: r.8,
        expires_at: r.9,
        revoked_at: r.10,
        created_at: r.11,
    }
}

macro_rules! key_columns {
    () => {
        (
            api_keys::id,
            api_keys::prefix,
            api_keys::name,
            api_keys::organization_id,
            api_keys::department_id,
            api_keys::project_id,
            api_keys::service_account_id,
            api_keys::scopes,
            api_keys::model_allowlist,
            api_keys::expires_at,
            api_keys::revoked_at,
            api_keys::created_at,
        )
    };
}

/// (organization id, department id, project id) of `org`/`project`.
fn locate(
    conn: &mut PgConnection,
    org: &str,
    project: &str,
) -> Result<(Uuid, Uuid, Uuid), IamError> {
    projects::table
        .inner_join(organizations::table)
        .filter(organizations::slug.eq(org))
        .filter(projects::slug.eq(project))
        .select((organizations::id, projects::department_id, projects::id))
        .first(conn)
        .optional()?
        .ok_or_else(|| IamError::NotFound(format!("no project `{org}/{project}`")))
}

impl PgIam {
    fn audit_key(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        action: &str,
        target: (&str, &str),
        scope: (Uuid, Uuid, Uuid),
    ) -> Result<(), IamError> {
        let mut event = NewEvent::new(actor.clone(), action, target.0, target.1);
        (event.organization_id, event.department_id, event.project_id) =
            (Some(scope.0), Some(scope.1), Some(scope.2));
        self.audit.append_in(conn, event)?;
        Ok(())
    }

    pub(super) fn create_sa_on(
        &self,
        conn: &mut PgConnection,
        (org, project, name, owner, purpose): (&str, &str, &str, &str, &str),
        actor: Actor,
    ) -> Result<ServiceAccount, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let (org_id, dept_id, project_id) = locate(conn, org, project)?;
            let sa = ServiceAccount {
                id: Uuid::now_v7(),
                organization_id: org_id,
                project_id,
                name: name.into(),
                owner: owner.into(),
                purpose: purpose.into(),
                created_at: now,
            };
            diesel::insert_into(service_accounts::table)
                .values((
                    service_accounts::id.eq(sa.id),
                    service_accounts::organization_id.eq(org_id),
                    service_accounts::project_id.eq(project_id),
                    service_accounts::name.eq(name),
                    service_accounts::owner.eq(owner),
                    service_accounts::purpose.eq(purpose),
                    service_accounts::created_at.eq(now),
                ))
                .execute(conn)?;
            self.audit_key(
                conn,
                &actor,
                SA_CREATED,
                ("service_account", &sa.id.to_string()),
                (org_id, dept_id, project_id),
            )?;
            Ok(sa)
        })
    }

    pub(super) fn issue_on(
        &self,
        conn: &mut PgConnection,
        key: NewKey,
        actor: Actor,
    ) -> Result<IssuedKey, IamError> {
        for scope in &key.scopes {
            if !self.registry.is_active("scope", scope) {
                return Err(IamError::Invalid {
                    field: "scopes",
                    reason: format!("`{scope}` is not an active registry scope"),
                });
            }
        }
        if key.scopes.is_empty() {
            return Err(IamError::Invalid {
                field: "scopes",
                reason: "a key needs at least one scope".into(),
            });
        }
        let (prefix, secret) = (random_hex(6)?, random_hex(32)?);
        let hash = hex::encode(read_model::digest(&secret));
        let now = self.clock.now();
        conn.transaction(|conn| {
            let sa: (Uuid, Uuid) = service_accounts::table
                .find(key.service_account_id)
                .select((
                    service_accounts::organization_id,
                    service_accounts::project_id,
                ))
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    IamError::NotFound(format!("no service account {}", key.service_account_id))
                })?;
            let dept: Uuid = projects::table
                .find(sa.1)
                .select(projects::department_id)
                .first(conn)?;
            let id = Uuid::now_v7();
            diesel::insert_into(api_keys::table)
                .values((
                    api_keys::id.eq(id),
                    api_keys::prefix.eq(&prefix),
                    api_keys::secret_sha256.eq(&hash),
                    api_keys::name.eq(&key.name),
                    api_keys::organization_id.eq(sa.0),
                    api_keys::department_id.eq(dept),
                    api_keys::project_id.eq(sa.1),
                    api_keys::service_account_id.eq(key.service_account_id),
                    api_keys::scopes.eq(&key.scopes),
                    api_keys::model_allowlist.eq(&key.model_allowlist),
                    api_keys::expires_at.eq(key.expires_at),
                    api_keys::created_at.eq(now),
                ))
                .execute(conn)?;
            self.audit_key(
                conn,
                &actor,
                KEY_ISSUED,
                ("api_key", &prefix),
                (sa.0, dept, sa.1),
            )?;
            diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
            let row: KeyRow = api_keys::table
                .find(id)
                .select(key_columns!())
                .first(conn)?;
            Ok(IssuedKey {
                key: view(row),
                secret: format!("aic_{prefix}_{secret}"),
            })
        })
    }

    pub(super) fn keys_on(
        conn: &mut PgConnection,
        org: &str,
        project: &str,
    ) -> Result<Vec<ApiKeyView>, IamError> {
        let (_, _, project_id) = locate(conn, org, project)?;
        let rows: Vec<KeyRow> = api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .order(api_keys::created_at.desc())
            .select(key_columns!())
            .load(conn)?;
        Ok(rows.into_iter().map(view).collect())
    }

    pub(super) fn revoke_on(
        &self,
        conn: &mut PgConnection,
        prefix: &str,
        actor: Actor,
    ) -> Result<ApiKeyView, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let row: KeyRow = api_keys::table
                .filter(api_keys::prefix.eq(prefix))
                .select(key_columns!())
                .for_update()
                .first(conn)
                .optional()?
                .ok_or_else(|| IamError::NotFound(format!("no key `{prefix}`")))?;
            if row.10.is_some() {
                return Err(IamError::Conflict(format!(
                    "key `{prefix}` is already revoked"
                )));
            }
            diesel::update(api_keys::table.find(row.0))
                .set(api_keys::revoked_at.eq(now))
                .execute(conn)?;
            self.audit_key(
                conn,
                &actor,
                KEY_REVOKED,
                ("api_key", prefix),
                (row.3, row.4, row.5),
            )?;
            diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
            let mut row = row;
            row.10 = Some(now);
            Ok(view(row))
        })
    }

    /// Ends the old key after `grace` (at once when zero) and issues its replacement, in one
    /// transaction with the audit event.
    pub(super) fn rotate_on(
        &self,
        conn: &mut PgConnection,
        prefix: &str,
        grace: std::time::Duration,
        actor: Actor,
    ) -> Result<IssuedKey, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let old: KeyRow = api_keys::table
                .filter(api_keys::prefix.eq(prefix))
                .filter(api_keys::revoked_at.is_null())
                .select(key_columns!())
                .for_update()
                .first(conn)
                .optional()?
                .ok_or_else(|| IamError::NotFound(format!("no active key `{prefix}`")))?;
            let ends = now + grace;
            match grace.is_zero() {
                true => diesel::update(api_keys::table.find(old.0)).set(api_keys::revoked_at.eq(now)).execute(conn)?,
                false => diesel::update(api_keys::table.find(old.0))
                    .set(api_keys::expires_at.eq(Some(old.9.map_or(ends, |e| e.min(ends)))))
                    .execute(conn)?,
            };
            let replacement = NewKey {
                service_account_id: old.6,
                name: old.2.clone(),
                scopes: old.7.clone(),
                model_allowlist: old.8.clone(),
                expires_at: old.9,
            };
            let issued = self.issue_on(conn, replacement, actor.clone())?;
            let mut event = NewEvent::new(actor, KEY_ROTATED, "api_key", prefix);
            (event.organization_id, event.department_id, event.project_id) = (Some(old.3), Some(old.4), Some(old.5));
            event.details = serde_json::json!({ "replacement": issued.key.prefix, "grace_secs": grace.as_secs() });
            self.audit.append_in(conn, event)?;
            Ok(issued)
        })
    }

    pub(super) fn authenticate_in_memory(&self, bearer: &str) -> Result<Principal, IamError> {
        let denied = || {
            IamError::Unauthenticated(
                "a valid API key is required (Authorization: Bearer aic_...)".into(),
            )
        };
        let rest = bearer.strip_prefix("aic_").ok_or_else(denied)?;
        let (prefix, secret) = rest.split_once('_').ok_or_else(denied)?;
        let entry = self.read_model.get(prefix).ok_or_else(denied)?;
        if !read_model::same(&entry.secret_sha256, &read_model::digest(secret)) {
            return Err(denied());
        }
        if entry.expires_at.is_some_and(|at| at <= self.clock.now()) {
            return Err(denied());
        }
        Ok(entry.principal)
    }

    pub(super) fn decide_now(
        &self,
        principal: &Principal,
        scope: &str,
        organization: Uuid,
        project: Option<Uuid>,
    ) -> Decision {
        let deny = |reason, message: String| Decision {
            allow: false,
            reason,
            message,
        };
        if principal.organization_id != organization
            || project.is_some_and(|p| p != principal.project_id)
        {
            return deny(
                "other_tenant",
                "this key does not belong to that organization or project".into(),
            );
        }
        if !principal.scopes.iter().any(|s| s == scope) {
            return deny(
                "scope_not_held",
                format!("this key lacks the `{scope}` scope"),
            );
        }
        if !self.registry.is_active("scope", scope) {
            return deny(
                "scope_inactive",
                format!("`{scope}` is not an active scope"),
            );
        }
        Decision {
            allow: true,
            reason: "allowed",
            message: "allowed".into(),
        }
    }
}
