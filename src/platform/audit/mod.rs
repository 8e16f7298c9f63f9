//! Audit custody: every privileged mutation appends an event to one hash chain, in the
//! same transaction as the mutation. The chain is append-only in the database (grants and
//! triggers), verifiable end to end, and periodically sealed by Ed25519-signed digests
//! that a third party can check with the public key alone.

pub mod api;
pub mod canonical;
pub mod chain;
pub mod cli;
pub mod denials;
pub mod pages;
mod schema;
pub mod signing;
mod store;

use diesel::pg::PgConnection;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use store::{PgAudit, sign_periodically};

use crate::base::db::DbError;
use crate::kit::error::ApiError;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person.
    User,
    /// A non-human principal.
    ServiceAccount,
    /// An API key.
    ApiKey,
    /// The platform itself, or an administrator at its command line.
    System,
}

impl ActorKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ServiceAccount => "service_account",
            ActorKind::ApiKey => "api_key",
            ActorKind::System => "system",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<ActorKind> {
        [
            ActorKind::User,
            ActorKind::ServiceAccount,
            ActorKind::ApiKey,
            ActorKind::System,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The actor of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// Kind.
    pub kind: ActorKind,
    /// Id (user id, key prefix, `cli:<os user>`, ...).
    pub id: String,
    /// Role it acted in.
    pub role: Option<String>,
    /// Whom it acted for.
    pub on_behalf_of: Option<String>,
}

impl Actor {
    /// The operator running an `aicloud` command.
    pub fn operator() -> Actor {
        Actor::system(crate::kit::cli::operator())
    }

    /// The platform or an administrator's command, identified by `id`.
    pub fn system(id: impl Into<String>) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: id.into(),
            role: None,
            on_behalf_of: None,
        }
    }
}

/// How the audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditResult {
    /// It happened.
    Success,
    /// It was refused.
    Denied,
    /// It was attempted and failed.
    Failed,
}

impl AuditResult {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Denied => "denied",
            AuditResult::Failed => "failed",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<AuditResult> {
        [
            AuditResult::Success,
            AuditResult::Denied,
            AuditResult::Failed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Who.
    pub actor: Actor,
    /// Tenant organization, when the action has one.
    pub organization_id: Option<Uuid>,
    /// Department.
    pub department_id: Option<Uuid>,
    /// Project.
    pub project_id: Option<Uuid>,
    /// An active registry audit action.
    pub action: String,
    /// Must equal the action's declared target type.
    pub target_type: String,
    /// What was acted on.
    pub target_id: String,
    /// Outcome.
    pub result: AuditResult,
    /// Why (for denials and failures especially).
    pub reason: Option<String>,
    /// Follows one action through audit, ledger, evidence and events.
    pub correlation_id: Option<String>,
    /// Caller's address, where known.
    pub client_ip: Option<String>,
    /// Caller's user agent, where known.
    pub user_agent: Option<String>,
    /// Anything else, as a JSON object (size-limited).
    pub details: serde_json::Value,
}

impl NewEvent {
    /// A successful action by `actor` on `target_type`/`target_id`, with empty details,
    /// carrying the correlation id, address and agent of the request being served.
    pub fn new(actor: Actor, action: &str, target_type: &str, target_id: &str) -> NewEvent {
        let request = crate::base::context::current().unwrap_or_default();
        let correlation = Some(request.correlation_id).filter(|id| !id.is_empty());
        NewEvent {
            actor,
            organization_id: None,
            department_id: None,
            project_id: None,
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            result: AuditResult::Success,
            reason: None,
            correlation_id: correlation,
            client_ip: request.client_ip,
            user_agent: request.user_agent,
            details: serde_json::json!({}),
        }
    }
}

/// An appended event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Position in the chain, gapless from 1.
    pub seq: i64,
    /// UUIDv7.
    pub id: Uuid,
    /// When (UTC, microseconds).
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// Organization.
    pub organization_id: Option<Uuid>,
    /// Department.
    pub department_id: Option<Uuid>,
    /// Project.
    pub project_id: Option<Uuid>,
    /// Audit action id.
    pub action: String,
    /// Target type.
    pub target_type: String,
    /// Target id.
    pub target_id: String,
    /// Outcome.
    pub result: AuditResult,
    /// Why.
    pub reason: Option<String>,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// Client address.
    pub client_ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Details object.
    pub details: serde_json::Value,
    /// The action's retention class (from the registry).
    pub retention_class: String,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// Filters for listing events, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Organization.
    pub organization_id: Option<Uuid>,
    /// Project.
    pub project_id: Option<Uuid>,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Action id.
    pub action: Option<String>,
    /// Target type.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// Result.
    pub result: Option<AuditResult>,
    /// Occurred at or after.
    pub from: Option<OffsetDateTime>,
    /// Occurred before.
    pub to: Option<OffsetDateTime>,
    /// Only events older than this seq (the cursor).
    pub before_seq: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A page of events.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    /// Events, newest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Kinds of break in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// An event's content no longer matches its hash (or its successor's record of it).
    Modified,
    /// A seq is absent.
    Missing,
    /// Events are out of chain order.
    Reordered,
    /// A digest does not match the chain or its signature is invalid.
    BadDigest,
}

impl BreakKind {
    /// Stable name, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Modified => "modified",
            BreakKind::Missing => "missing",
            BreakKind::Reordered => "reordered",
            BreakKind::BadDigest => "bad_digest",
        }
    }
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Break {
    /// First broken seq.
    pub seq: i64,
    /// Kind of break.
    pub kind: BreakKind,
    /// What was found.
    pub detail: String,
}

/// Result of a verification.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// No break found.
    pub ok: bool,
    /// Last seq verified intact (0 when none).
    pub verified_through: i64,
    /// Events checked.
    pub events_checked: u64,
    /// Digests checked.
    pub digests_checked: u64,
    /// The first break, if any.
    pub first_break: Option<Break>,
    /// When it ran.
    #[serde(with = "time::serde::rfc3339")]
    pub verified_at: OffsetDateTime,
}

/// A signed digest over a seq range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DigestRecord {
    /// 1, 2, ...
    pub number: i64,
    /// First seq covered.
    pub seq_from: i64,
    /// Last seq covered.
    pub seq_to: i64,
    /// Hash of the event at `seq_to`.
    pub last_hash: String,
    /// Signature of the previous digest (64 zeros for the first).
    pub prev_signature: String,
    /// Id of the signing key.
    pub key_id: String,
    /// When it was signed, with the six fractional digits its signature covers.
    #[serde(with = "chain::exact_time")]
    pub created_at: OffsetDateTime,
    /// Ed25519 signature, hex.
    pub signature: String,
}

/// The digest verification key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicKey {
    /// Always `ed25519`.
    pub algorithm: &'static str,
    /// Key id (first 16 hex digits of the key's SHA-256).
    pub key_id: String,
    /// The 32-byte public key, hex.
    pub public_key: String,
}

/// An export: events of a seq range and the digests over them.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// Events in seq order.
    pub events: Vec<AuditEvent>,
    /// Digests overlapping the range.
    pub digests: Vec<DigestRecord>,
}

/// Audit failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The event breaks a rule; nothing was written.
    #[error("audit event refused: {field}: {reason}")]
    Invalid {
        /// Field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such event.
    #[error("no audit event {0}")]
    NotFound(String),
    /// No signing key is configured.
    #[error(
        "no audit signing key is configured (audit.signing_key); create one with `aicloud audit keygen`"
    )]
    NoSigningKey,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for AuditError {
    fn from(err: diesel::result::Error) -> AuditError {
        AuditError::Db(DbError::from(err))
    }
}

impl From<AuditError> for ApiError {
    fn from(err: AuditError) -> ApiError {
        match err {
            AuditError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            AuditError::NotFound(what) => ApiError::NotFound(format!("no audit event {what}")),
            AuditError::NoSigningKey => ApiError::Conflict {
                detail: err.to_string(),
                errors: Vec::new(),
            },
            AuditError::Db(db) => db.into(),
        }
    }
}

/// Audit custody as other modules see it.
#[async_trait::async_trait]
pub trait Audit: Send + Sync {
    /// Appends inside the caller's open transaction on `conn`, so the mutation and its
    /// event commit (or roll back) together. Holds the chain lock until that commit.
    fn append_in(&self, conn: &mut PgConnection, event: NewEvent)
    -> Result<AuditEvent, AuditError>;

    /// Appends several events, in order, inside the caller's open transaction on `conn`.
    fn append_batch_in(
        &self,
        conn: &mut PgConnection,
        events: Vec<NewEvent>,
    ) -> Result<Vec<AuditEvent>, AuditError>;

    /// Appends one event in a transaction of its own.
    async fn append(&self, event: NewEvent) -> Result<AuditEvent, AuditError>;

    /// Appends several events in one transaction (all or none).
    async fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<AuditEvent>, AuditError>;

    /// Lists events, newest first.
    async fn query(&self, filter: EventFilter) -> Result<Page, AuditError>;

    /// One event by id.
    async fn event(&self, id: Uuid) -> Result<AuditEvent, AuditError>;

    /// Recomputes the chain from `from_seq` (default 1) and checks the digests over it.
    async fn verify(&self, from_seq: Option<i64>) -> Result<VerifyReport, AuditError>;

    /// The most recent verification, if one ran in this process.
    fn last_verification(&self) -> Option<VerifyReport>;

    /// Signs a digest over the events since the last one; `None` when there are none.
    async fn sign_digest(&self) -> Result<Option<DigestRecord>, AuditError>;

    /// Every digest, oldest first.
    async fn digests(&self) -> Result<Vec<DigestRecord>, AuditError>;

    /// The digest verification key, when a signing key is configured.
    fn public_key(&self) -> Option<PublicKey>;

    /// Events `from..=to` and the digests over them, after sealing the tail.
    async fn export(&self, from: i64, to: i64) -> Result<Export, AuditError>;
}
