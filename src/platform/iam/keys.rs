//! Service accounts, API keys and access decisions.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Caller, IamError, Project};

/// A project-scoped non-human principal.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ServiceAccount {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization_id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Name, unique in the project.
    pub name: String,
    /// Who answers for it.
    pub owner: String,
    /// Why it exists.
    pub purpose: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// active or disabled (a disabled account's keys are denied).
    pub state: String,
    /// When it was disabled.
    #[serde(with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
}

/// An organization's id, where it meets other ids in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganizationId(pub Uuid);

/// A project's id, where it meets other ids in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProjectId(pub Uuid);

/// Whom a key acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHolder {
    /// A service account (by id).
    ServiceAccount(Uuid),
    /// A user (first id) in a project (second id) of an organization they belong to.
    User(Uuid, Uuid),
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Whom the key acts as.
    pub holder: KeyHolder,
    /// A name to recognise it by.
    pub name: String,
    /// Scopes; each must be an active registry scope.
    pub scopes: Vec<String>,
    /// Models the key may call (all when `None`).
    pub model_allowlist: Option<Vec<String>>,
    /// When it stops working.
    pub expires_at: Option<OffsetDateTime>,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// Id.
    pub id: Uuid,
    /// Public prefix (the `aic_<prefix>_` part).
    pub prefix: String,
    /// Name.
    pub name: String,
    /// Organization.
    pub organization_id: Uuid,
    /// Department.
    pub department_id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Service account it acts as (keys act as a service account or a user).
    pub service_account_id: Option<Uuid>,
    /// User it acts as.
    pub user_id: Option<Uuid>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Model allow-list.
    pub model_allowlist: Option<Vec<String>>,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Revocation time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Last successful authentication, as of the latest flush (`iam.last_used_flush_secs`);
    /// absent when never used.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A freshly issued key: the secret is shown this once and stored only as a hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// The key.
    pub key: ApiKeyView,
    /// `aic_<prefix>_<secret>`, for the `Authorization: Bearer` header.
    pub secret: String,
}

/// Who is calling, as the read model knows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Principal {
    /// `service_account` or `user`.
    pub kind: &'static str,
    /// The service account's or user's id.
    pub id: Uuid,
    /// Organization.
    pub organization_id: Uuid,
    /// Department.
    pub department_id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// The key's public prefix.
    pub key_prefix: String,
    /// Scopes the key holds in its project.
    pub scopes: Vec<String>,
    /// Scopes it holds for its organization as a whole (organization-level routes): a user
    /// key's, within what its user holds there; none for a service account.
    pub organization_scopes: Vec<String>,
    /// Models it may call (all when absent).
    pub model_allowlist: Option<Vec<String>>,
}

/// The answer to "may this principal do this here?".
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// Allowed or not.
    pub allow: bool,
    /// Stable reason code: `allowed`, `scope_not_held`, `scope_inactive`, `other_tenant`.
    pub reason: &'static str,
    /// A message safe to show the caller.
    pub message: String,
}

/// Service accounts, keys and decisions.
#[async_trait::async_trait]
pub trait Keys: Send + Sync {
    /// Creates a service account in `organization`/`project`, audited; the caller needs
    /// `platform.iam.write` there.
    async fn create_service_account(
        &self,
        caller: &Caller,
        organization: &str,
        project: &str,
        name: &str,
        owner: &str,
        purpose: &str,
    ) -> Result<ServiceAccount, IamError>;

    /// Disables a service account in `organization`/`project`, audited: its keys are
    /// denied on every server within a second and it gets no new ones. The caller needs
    /// `platform.iam.write` there.
    async fn disable_service_account(
        &self,
        caller: &Caller,
        organization: &str,
        project: &str,
        name: &str,
    ) -> Result<ServiceAccount, IamError>;

    /// Issues a key; the returned secret is never shown again. Audited. Each scope must be
    /// one `caller` holds in the key's project (no escalation).
    async fn issue_key(&self, caller: &Caller, key: NewKey) -> Result<IssuedKey, IamError>;

    /// Service accounts of a project, by name.
    async fn service_accounts(&self, project: &Project) -> Result<Vec<ServiceAccount>, IamError>;

    /// The key with `prefix`, revoked or not.
    async fn key(&self, prefix: &str) -> Result<ApiKeyView, IamError>;

    /// The key `prefix` when it belongs to `project`; another project's key is not found,
    /// exactly as if it did not exist.
    async fn key_in(&self, project: &Project, prefix: &str) -> Result<ApiKeyView, IamError> {
        let missing = || IamError::NotFound(format!("no key `{prefix}` in this project"));
        match self.key(prefix).await {
            Ok(key) if key.project_id == project.id => Ok(key),
            Ok(_) | Err(IamError::NotFound(_)) => Err(missing()),
            Err(other) => Err(other),
        }
    }

    /// Whom a new key in `project` acts as: the service account named, or else the calling
    /// person (a key calling as a key must name one).
    async fn holder_in(
        &self,
        caller: &Caller,
        project: &Project,
        service_account: Option<&str>,
    ) -> Result<KeyHolder, IamError> {
        let Some(name) = service_account else {
            return caller
                .user_id()
                .map(|user| KeyHolder::User(user, project.id))
                .ok_or_else(|| IamError::Invalid {
                    field: "service_account",
                    reason:
                        "a key calling as a key must name the service account the new key acts as"
                            .into(),
                });
        };
        let accounts = self.service_accounts(project).await?;
        accounts
            .iter()
            .find(|sa| sa.name == name)
            .map(|sa| KeyHolder::ServiceAccount(sa.id))
            .ok_or_else(|| {
                IamError::NotFound(format!("no service account `{name}` in this project"))
            })
    }

    /// Keys of a project, newest first, without secrets.
    async fn keys(&self, project: &Project) -> Result<Vec<ApiKeyView>, IamError>;

    /// Revokes the key with `prefix`; every server denies it within a second. Audited.
    async fn revoke_key(&self, caller: &Caller, prefix: &str) -> Result<ApiKeyView, IamError>;

    /// Issues a replacement for the key with `prefix` (same account, scopes, models and
    /// expiry); the old key keeps working for `grace`, then stops. Audited.
    async fn rotate_key(
        &self,
        caller: &Caller,
        prefix: &str,
        grace: std::time::Duration,
    ) -> Result<IssuedKey, IamError>;

    /// The principal behind a bearer secret, from memory; unknown keys are denied. A
    /// success is noted in memory as the key's last use, written by [`Keys::flush_last_used`].
    fn authenticate(&self, bearer: &str) -> Result<Principal, IamError>;

    /// Writes the last uses noted since the previous flush, in one statement; returns how
    /// many keys changed. Uses that could not be written are kept for the next flush.
    async fn flush_last_used(&self) -> Result<usize, IamError>;

    /// Whether `principal` may use `scope` in `organization` (and `project`, when given).
    /// Answered from memory. The ids are typed so that the two cannot be swapped.
    fn decide(
        &self,
        principal: &Principal,
        scope: &str,
        organization: OrganizationId,
        project: Option<ProjectId>,
    ) -> Decision;
}
