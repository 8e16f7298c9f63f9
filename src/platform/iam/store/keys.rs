//! API keys: the `Keys` trait, and issuing and reading keys, each change audited and
//! announced in its transaction (service accounts in `service_accounts.rs`, ending keys in
//! `revocation.rs`, who may issue what in `key_rules.rs`).

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::api_keys;
use super::super::{
    ApiKeyView, Caller, Decision, IamError, IssuedKey, KeyHolder, Keys, NewKey, OrganizationId,
    Principal, Project, ProjectId, ServiceAccount,
};
use super::key_rules::check_new_key;
use super::read_model::{self, CHANNEL};
use super::{MAX_NAME, PgIam, check_slug, check_text, random_hex};
use crate::platform::audit::NewEvent;

const KEY_ISSUED: &str = "platform.api_key.issued";
pub(super) const KEY_REVOKED: &str = "platform.api_key.revoked";
pub(super) const KEYS_MANAGE: &str = "platform.keys.manage";

/// Key changes reload this process's key read model at once (`changing_keys`), so a key
/// works, or stops working, here as soon as the call returns; authentication and
/// decisions are answered from that model, in memory.
#[async_trait::async_trait]
impl Keys for PgIam {
    async fn create_service_account(
        &self,
        caller: &Caller,
        organization: &str,
        project: &str,
        name: &str,
        owner: &str,
        purpose: &str,
    ) -> Result<ServiceAccount, IamError> {
        check_slug("name", name)?;
        check_text("owner", owner, MAX_NAME)?;
        check_text("purpose", purpose, MAX_NAME)?;
        let caller = caller.clone();
        let args: [String; 5] = [organization, project, name, owner, purpose].map(str::to_owned);
        self.on_pool(move |this, conn| {
            let [o, p, n, w, u] = &args;
            this.create_service_account_on(conn, &caller, (o, p, n, w, u))
        })
        .await
    }

    async fn disable_service_account(
        &self,
        caller: &Caller,
        organization: &str,
        project: &str,
        name: &str,
    ) -> Result<ServiceAccount, IamError> {
        let caller = caller.clone();
        let args: [String; 3] = [organization, project, name].map(str::to_owned);
        self.changing_keys(move |this, conn| {
            let [o, p, n] = &args;
            this.disable_service_account_on(conn, &caller, (o, p, n))
        })
        .await
    }

    async fn issue_key(&self, caller: &Caller, key: NewKey) -> Result<IssuedKey, IamError> {
        if key.name.trim().is_empty() {
            return Err(IamError::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
        }
        let caller = caller.clone();
        self.changing_keys(move |this, conn| this.issue_key_on(conn, &caller, key))
            .await
    }

    async fn service_accounts(&self, project: &Project) -> Result<Vec<ServiceAccount>, IamError> {
        let project = project.id;
        self.db
            .run(move |conn| PgIam::service_accounts_on(conn, project))
            .await
    }

    async fn key(&self, prefix: &str) -> Result<ApiKeyView, IamError> {
        let prefix = prefix.to_owned();
        self.db.run(move |conn| PgIam::key_on(conn, &prefix)).await
    }

    async fn keys(&self, project: &Project) -> Result<Vec<ApiKeyView>, IamError> {
        let project = project.id;
        self.db.run(move |conn| PgIam::keys_on(conn, project)).await
    }

    async fn revoke_key(&self, caller: &Caller, prefix: &str) -> Result<ApiKeyView, IamError> {
        let (caller, prefix) = (caller.clone(), prefix.to_owned());
        self.changing_keys(move |this, conn| this.revoke_key_on(conn, &caller, &prefix))
            .await
    }

    async fn rotate_key(
        &self,
        caller: &Caller,
        prefix: &str,
        grace: std::time::Duration,
    ) -> Result<IssuedKey, IamError> {
        let (caller, prefix) = (caller.clone(), prefix.to_owned());
        self.changing_keys(move |this, conn| this.rotate_key_on(conn, &caller, &prefix, grace))
            .await
    }

    fn authenticate(&self, bearer: &str) -> Result<Principal, IamError> {
        self.authenticate_in_memory(bearer)
    }

    async fn flush_last_used(&self) -> Result<usize, IamError> {
        self.write_last_used().await
    }

    fn decide(
        &self,
        principal: &Principal,
        scope: &str,
        organization: OrganizationId,
        project: Option<ProjectId>,
    ) -> Decision {
        self.decide_now(principal, scope, organization.0, project.map(|p| p.0))
    }
}

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
