//! The registry: the platform's source of truth for every product-specific name. Products
//! declare entries in an onboarding packet; `onboard` activates them in one transaction;
//! other modules ask [`Registry::is_active`], answered from memory.

mod families;
mod markdown;
pub mod packet;
mod questions;
pub mod records;
pub mod review;
pub mod validate;

pub mod api;
pub mod cli;
mod diff;
pub mod pages;
mod schema;
mod snapshot;
mod store;

use serde::Serialize;
use time::OffsetDateTime;

pub use families::FAMILY_ORDER;
pub use review::Review;
pub use store::PgRegistry;
pub use validate::{Format, Issue};

use crate::base::db::DbError;
use crate::kit::error::ApiError;
use crate::platform::audit::{Actor, AuditError};

/// A packet as submitted: where it came from, its text and encoding.
#[derive(Debug, Clone)]
pub struct PacketSource {
    /// File name, or `request body`.
    pub origin: String,
    /// The packet's text.
    pub text: String,
    /// TOML or JSON.
    pub format: Format,
}

/// A registered product.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductSummary {
    /// Product id (the namespace of its entries).
    pub id: String,
    /// URL slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Current lifecycle.
    pub lifecycle: String,
    /// Lifecycle the packet declares (reached once its entries are active).
    pub declared_lifecycle: String,
    /// Current revision number.
    pub revision: i32,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A product with its identity and ownership declarations.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductDetail {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: ProductSummary,
    /// What it is.
    pub description: String,
    /// Owners, personas, exposure.
    pub identity: serde_json::Value,
    /// Packages, routes, schemas, frontend surfaces.
    pub ownership: serde_json::Value,
    /// Entries per family and state.
    pub entry_counts: Vec<FamilyCount>,
}

/// How many entries of a family are in a state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FamilyCount {
    /// Family.
    pub family: String,
    /// State.
    pub state: String,
    /// Count.
    pub count: i64,
}

/// One stored packet revision.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevisionView {
    /// Revision id.
    pub id: uuid::Uuid,
    /// 1, 2, ...
    pub number: i32,
    /// SHA-256 of the packet text as submitted.
    pub sha256: String,
    /// `toml` or `json`.
    pub format: String,
    /// What changed from the previous revision.
    pub diff: Diff,
    /// When it was onboarded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What a revision changed, entries named `family:id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Diff {
    /// New entries.
    pub added: Vec<String>,
    /// Entries whose version, state, description or attributes changed.
    pub changed: Vec<String>,
    /// Entries dropped from the packet (kept, state `retired`).
    pub retired: Vec<String>,
    /// Product fields that changed (name, lifecycle, owners, ...).
    pub product: Vec<String>,
}

/// An entry as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    /// Family.
    pub family: String,
    /// Namespaced id.
    pub id: String,
    /// Owning product.
    pub product_id: String,
    /// Contract version.
    pub version: i32,
    /// draft, active, not_applicable or retired.
    pub state: String,
    /// Meaning.
    pub description: String,
    /// Family-specific fields.
    pub attributes: serde_json::Value,
    /// Owner, reason and review date when not applicable.
    pub not_applicable: Option<serde_json::Value>,
    /// Revision that last set it.
    pub revision_id: uuid::Uuid,
    /// First registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An active entry as lookups see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveEntry {
    /// Contract version.
    pub version: i32,
    /// Family-specific fields (e.g. an audit action's `target_type`).
    pub attributes: serde_json::Value,
    /// The product that declares it.
    pub product: String,
}

/// Filter for listing a family.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// Only this product's entries.
    pub product: Option<String>,
    /// Only entries in this state.
    pub state: Option<String>,
}

/// What `onboard` did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnboardOutcome {
    /// Product id.
    pub product_id: String,
    /// Product slug.
    pub slug: String,
    /// `true` when the packet matched the current revision and nothing was written.
    pub unchanged: bool,
    /// Current revision number.
    pub revision: i32,
    /// SHA-256 of the packet text.
    pub sha256: String,
    /// Lifecycle after onboarding.
    pub lifecycle: String,
    /// What changed.
    pub diff: Diff,
}

/// Registry failures.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The packet is not well-formed TOML/JSON or does not fit the format.
    #[error("the packet cannot be read: {0}")]
    Malformed(Issue),
    /// The packet breaks a rule.
    #[error("the packet is invalid ({} problem(s))", .0.len())]
    Invalid(Vec<Issue>),
    /// The packet is valid but its review does not pass the exit criteria.
    #[error("the packet does not pass its readiness review")]
    NotReady(Box<Review>),
    /// The packet changes entries incompatibly without bumping their versions.
    #[error("the packet changes registered entries incompatibly")]
    Incompatible(Vec<Issue>),
    /// No such product or family; the message says which, and what there is.
    #[error("{0}")]
    NotFound(String),
    /// The change could not be audited, so it was not made.
    #[error("not onboarded: {0}")]
    Audit(#[from] AuditError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RegistryError {
    fn from(err: diesel::result::Error) -> RegistryError {
        RegistryError::Db(DbError::from(err))
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> ApiError {
        match err {
            RegistryError::Malformed(issue) => ApiError::MalformedBody(issue.to_string()),
            RegistryError::Invalid(errors) => ApiError::Rejected {
                detail: err_text(errors.len(), "invalid"),
                errors,
            },
            RegistryError::NotReady(review) => ApiError::Rejected {
                detail: "the packet does not pass its readiness review".into(),
                errors: review::blocking_issues(&review),
            },
            RegistryError::Incompatible(errors) => ApiError::Conflict {
                detail: "the packet changes registered entries incompatibly; bump their versions"
                    .into(),
                errors,
            },
            RegistryError::NotFound(what) => ApiError::NotFound(what),
            RegistryError::Audit(AuditError::Invalid { field, reason }) => ApiError::Conflict {
                detail: "the change cannot be audited, so it was not made".into(),
                errors: vec![Issue {
                    at: format!("audit.{field}"),
                    message: reason,
                }],
            },
            RegistryError::Audit(other) => other.into(),
            RegistryError::Db(db) => db.into(),
        }
    }
}

fn err_text(n: usize, what: &str) -> String {
    format!("the packet is {what}: {n} problem(s)")
}

/// The registry as other modules see it.
#[async_trait::async_trait]
pub trait Registry: Send + Sync {
    /// Whether `id` is an active entry of `family` (of a product that is not retired).
    /// Answered from memory; unknown, draft and retired entries are not active.
    fn is_active(&self, family: &str, id: &str) -> bool;

    /// The active entry `id` of `family`, from memory.
    fn active_entry(&self, family: &str, id: &str) -> Option<ActiveEntry>;

    /// Changes whenever the in-memory active set does: a cache of something derived from
    /// active entries is current while this stays the same.
    fn generation(&self) -> u64;

    /// Every active entry of `family`, by id, from memory.
    fn active_entries(&self, family: &str) -> Vec<(String, ActiveEntry)>;

    /// The active entry as `conn` sees it, inside the caller's transaction: for checks that
    /// must see entries activated by that same, uncommitted transaction.
    fn active_entry_in(
        &self,
        conn: &mut diesel::pg::PgConnection,
        family: &str,
        id: &str,
    ) -> Result<Option<ActiveEntry>, RegistryError>;

    /// Reviews packets; references may point into the registry or into each other.
    async fn review(&self, sources: Vec<PacketSource>) -> Result<Vec<Review>, RegistryError>;

    /// Reviews the stored current revision of product `slug`.
    async fn review_product(&self, slug: &str) -> Result<Review, RegistryError>;

    /// Validates and activates a packet in one transaction, audited as `actor`; idempotent.
    async fn onboard(
        &self,
        source: PacketSource,
        actor: Actor,
    ) -> Result<OnboardOutcome, RegistryError>;

    /// Every product.
    async fn products(&self) -> Result<Vec<ProductSummary>, RegistryError>;

    /// One product by slug.
    async fn product(&self, slug: &str) -> Result<ProductDetail, RegistryError>;

    /// A product's revisions, newest first.
    async fn revisions(&self, slug: &str) -> Result<Vec<RevisionView>, RegistryError>;

    /// Entries of `family`.
    async fn entries(
        &self,
        family: &str,
        filter: EntryFilter,
    ) -> Result<Vec<EntryView>, RegistryError>;
}
