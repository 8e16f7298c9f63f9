//! API keys: issue, list, revoke and rotate, each audited and announced in its transaction.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{
    api_keys, org_memberships, organizations, projects, service_accounts, users,
};
use super::super::{
    ApiKeyView, Caller, IamError, IssuedKey, KeyHolder, NewKey, Organization, Place, Project,
};
use super::read_model::{self, CHANNEL};
use super::rows::{OrganizationRow, ProjectRow};
use super::{PgIam, random_hex};
use crate::platform::audit::NewEvent;

const KEY_ISSUED: &str = "platform.api_key.issued";
pub(super) const KEY_REVOKED: &str = "platform.api_key.revoked";
pub(super) const KEYS_MANAGE: &str = "platform.keys.manage";

pub(super) type KeyRow = (
    Uuid,
    String,
    String,
    Uuid,
    Uuid,
    Uuid,
    Option<Uuid>,
    Option<Uuid>,
    Vec<String>,
    Option<Vec<String>>,
    Option<time::OffsetDateTime>,
    Option<time::OffsetDateTime>,
    time::OffsetDateTime,
    Option<time::OffsetDateTime>,
);

pub(super) fn view(r: KeyRow) -> ApiKeyView {
    ApiKeyView {
        id: r.0,
        prefix: r.1,
        name: r.2,
        organization_id: r.3,
        department_id: r.4,
        project_id: r.5,
        service_account_id: r.6,
        user_id: r.7,
        scopes: r.8,
        model_allowlist: r.9,
        expires_at: r.10,
        revoked_at: r.11,
        created_at: r.12,
        last_used_at: r.13,
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
            api_keys::user_id,
            api_keys::scopes,
            api_keys::model_allowlist,
            api_keys::expires_at,
            api_keys::revoked_at,
            api_keys::created_at,
            api_keys::last_used_at,
        )
    };
}
pub(super) use key_columns;

/// What the outbox says of a key: metadata only, never the secret.
pub(super) fn key_payload(key: &ApiKeyView) -> serde_json::Value {
    serde_json::json!({
        "key_id": key.id,
        "prefix": key.prefix,
        "organization_id": key.organization_id,
        "project_id": key.project_id,
        "scopes": key.scopes,
        "expires_at": key.expires_at.map(|t| t.unix_timestamp()),
    })
}

/// Longest key name, in characters.
const MAX_KEY_NAME: usize = 100;
/// Most scopes one key may carry.
const MAX_KEY_SCOPES: usize = 64;
/// Most models one key's allow-list may name.
const MAX_ALLOWED_MODELS: usize = 256;
/// Longest model id in an allow-list.
const MAX_MODEL_ID: usize = 128;

/// The bounds of a new key, checked before anything else.
fn check_new_key(key: &NewKey) -> Result<(), IamError> {
    super::check_text("name", &key.name, MAX_KEY_NAME)?;
    if !(1..=MAX_KEY_SCOPES).contains(&key.scopes.len()) {
        return Err(IamError::Invalid {
            field: "scopes",
            reason: format!("a key needs 1 to {MAX_KEY_SCOPES} scopes"),
        });
    }
    let models = key.model_allowlist.as_deref().unwrap_or_default();
    if models.len() > MAX_ALLOWED_MODELS {
        return Err(IamError::Invalid {
            field: "model_allowlist",
            reason: format!("names at most {MAX_ALLOWED_MODELS} models"),
        });
    }
    models
        .iter()
        .try_for_each(|model| super::check_text("model_allowlist", model, MAX_MODEL_ID))
}

impl PgIam {
    /// Audits a key change and tells every read model to reload.
    pub(super) fn audit_key(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        action: &str,
        key: &ApiKeyView,
        details: serde_json::Value,
    ) -> Result<(), IamError> {
        let mut event = NewEvent::new(caller.actor(), action, "api_key", &key.prefix);
        (event.organization_id, event.department_id, event.project_id) = (
            Some(key.organization_id),
            Some(key.department_id),
            Some(key.project_id),
        );
        event.details = details;
        self.audit.append_in(conn, event)?;
        diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
        match action {
            KEY_ISSUED => self.announce(conn, "platform.iam.key_issued", key_payload(key)),
            KEY_REVOKED => self.announce(conn, "platform.iam.key_revoked", key_payload(key)),
            _ => Ok(()),
        }
    }

    /// The organization and project a new key lands in, from whom it acts as.
    fn holder_place(conn: &mut PgConnection, holder: KeyHolder) -> Result<Place, IamError> {
        let project_id = match holder {
            KeyHolder::ServiceAccount(id) => {
                let (project, name, state): (Uuid, String, String) = service_accounts::table
                    .find(id)
                    .select((
                        service_accounts::project_id,
                        service_accounts::name,
                        service_accounts::state,
                    ))
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| IamError::NotFound(format!("no service account {id}")))?;
                if state != "active" {
                    return Err(IamError::Conflict(format!(
                        "service account `{name}` is disabled; it gets no new keys"
                    )));
                }
                project
            }
            KeyHolder::User(_, project) => project,
        };
        let project: Project = projects::table
            .find(project_id)
            .select(ProjectRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| IamError::NotFound(format!("no project {project_id}")))?
            .into();
        let org: Organization = organizations::table
            .find(project.organization_id)
            .select(OrganizationRow::as_select())
            .first(conn)?
            .into();
        if let KeyHolder::User(user, _) = holder {
            let member: i64 = org_memberships::table
                .filter(org_memberships::organization_id.eq(org.id))
                .filter(org_memberships::user_id.eq(user))
                .count()
                .get_result(conn)?;
            if member == 0 {
                return Err(IamError::Invalid {
                    field: "user",
                    reason: format!("the user is not a member of organization `{}`", org.slug),
                });
            }
            let state: String = users::table.find(user).select(users::state).first(conn)?;
            if state != "active" {
                return Err(IamError::Conflict(
                    "the user is disabled; they get no new keys".into(),
                ));
            }
        }
        Ok(Place {
            organization: Some(org),
            project: Some(project),
        })
    }

    /// No escalation: the caller manages keys in the project and holds every scope it hands
    /// out; a user key is only ever issued by that user (or the platform).
    fn may_issue(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        place: &Place,
        key: &NewKey,
    ) -> Result<(), IamError> {
        let holdings = self.holdings_on(conn, caller, place)?;
        let (org, project) = (place.org()?, place.project()?);
        let here = format!("`{}/{}`", org.slug, project.slug);
        if !holdings.visible {
            return Err(IamError::NotFound(format!("no project {here}")));
        }
        if !holdings.holds(KEYS_MANAGE) {
            return Err(IamError::Forbidden(format!(
                "you lack the `{KEYS_MANAGE}` scope in project {here}"
            )));
        }
        if let Some(scope) = key.scopes.iter().find(|s| !holdings.holds(s)) {
            return Err(IamError::Forbidden(format!(
                "you cannot give a key `{scope}`: you do not hold it in project {here}"
            )));
        }
        match key.holder {
            KeyHolder::User(user, _)
                if caller.user_id() != Some(user) && !holdings.platform_wide =>
            {
                Err(IamError::Forbidden(
                    "a user key can only be issued by that user".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn issue_key_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        key: NewKey,
    ) -> Result<IssuedKey, IamError> {
        check_new_key(&key)?;
        for scope in &key.scopes {
            if !self.registry.is_active("scope", scope) {
                return Err(IamError::Invalid {
                    field: "scopes",
                    reason: format!("`{scope}` is not an active registry scope"),
                });
            }
        }
        let (prefix, secret) = (random_hex(6)?, random_hex(32)?);
        let hash = hex::encode(read_model::digest(&secret));
        let now = self.clock.now();
        conn.transaction(|conn| {
            let place = PgIam::holder_place(conn, key.holder)?;
            self.may_issue(conn, caller, &place, &key)?;
            let project = place.project()?;
            let (sa, user) = match key.holder {
                KeyHolder::ServiceAccount(id) => (Some(id), None),
                KeyHolder::User(id, _) => (None, Some(id)),
            };
            let id = Uuid::now_v7();
            diesel::insert_into(api_keys::table)
                .values((
                    api_keys::id.eq(id),
                    api_keys::prefix.eq(&prefix),
                    api_keys::secret_sha256.eq(&hash),
                    api_keys::name.eq(&key.name),
                    api_keys::organization_id.eq(project.organization_id),
                    api_keys::department_id.eq(project.department_id),
                    api_keys::project_id.eq(project.id),
                    api_keys::service_account_id.eq(sa),
                    api_keys::user_id.eq(user),
                    api_keys::scopes.eq(&key.scopes),
                    api_keys::model_allowlist.eq(&key.model_allowlist),
                    api_keys::expires_at.eq(key.expires_at),
                    api_keys::created_at.eq(now),
                ))
                .execute(conn)?;
            let issued = view(
                api_keys::table
                    .find(id)
                    .select(key_columns!())
                    .first(conn)?,
            );
            self.audit_key(
                conn,
                caller,
                KEY_ISSUED,
                &issued,
                serde_json::json!({ "scopes": key.scopes }),
            )?;
            Ok(IssuedKey {
                key: issued,
                secret: format!("aic_{prefix}_{secret}"),
            })
        })
    }

    pub(super) fn keys_on(
        conn: &mut PgConnection,
        project_id: Uuid,
    ) -> Result<Vec<ApiKeyView>, IamError> {
        let rows: Vec<KeyRow> = api_keys::table
            .filter(api_keys::project_id.eq(project_id))
            .order(api_keys::created_at.desc())
            .select(key_columns!())
            .load(conn)?;
        Ok(rows.into_iter().map(view).collect())
    }

    pub(super) fn key_on(conn: &mut PgConnection, prefix: &str) -> Result<ApiKeyView, IamError> {
        api_keys::table
            .filter(api_keys::prefix.eq(prefix))
            .select(key_columns!())
            .first(conn)
            .optional()?
            .map(view)
            .ok_or_else(|| IamError::NotFound(format!("no key `{prefix}`")))
    }

    pub(super) fn locked_key(
        conn: &mut PgConnection,
        prefix: &str,
    ) -> Result<ApiKeyView, IamError> {
        api_keys::table
            .filter(api_keys::prefix.eq(prefix))
            .select(key_columns!())
            .for_update()
            .first(conn)
            .optional()?
            .map(view)
            .ok_or_else(|| IamError::NotFound(format!("no key `{prefix}`")))
    }
}
