//! Token Factory: the OpenAI-compatible LLM gateway, the first product on the platform.
//!
//! It owns gateway behaviour only: the model catalog (models and the upstream endpoints
//! serving them), the request path, upstream routing and health, and its own analytics.
//! Keys, scopes, limits, money and custody stay in the platform and are reached through
//! their traits (`Keys`, `Decisions`, `SpendGuard`, `Metering`, `Audit`, `Registry`); its
//! schema `token_factory` holds no balances, prices, memberships or key material.
//!
//! The request path (`gateway`): the IAM read model authenticates the bearer key and
//! decides the inference scope; the catalog places the model and its guards; input is
//! counted before forwarding; policy admits requests, tokens and a concurrency slot; the
//! spend guard holds the worst-case cost; the upstream answers (streamed as it arrives);
//! usage is committed to billing with the request id as idempotency key before the response
//! completes; the hold settles and the admission is corrected to what was used. Only the
//! usage commit touches the database.
//!
//! Layout, as the module template gives it: `mod.rs` (this: the `Catalog` trait and its
//! types), `store/` (the only code naming the schema's tables), `schema.rs`, `api.rs`
//! (`/v1` and `/api/v1/token-factory`), `cli.rs`; besides, `wire/` (OpenAI's format),
//! `gateway/` (the request path), `upstream/` (endpoints, health, the demo provider),
//! `tokens.rs`.

pub mod analytics;
pub mod api;
pub mod catalog;
pub mod cli;
pub mod gateway;
pub mod metrics;
pub mod offload;
pub mod pages;
mod schema;
pub mod store;
pub mod tokens;
pub mod upstream;
pub mod wire;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::base::db::DbError;
use crate::kit::error::ApiError;
use crate::platform::audit::AuditError;
use crate::platform::iam::{Caller, IamError};

pub use store::{Collaborators, TokenFactory};

/// The product's registry id (its packet's `product.id`).
pub const PRODUCT: &str = "token_factory";
/// The scope inference routes need.
pub const INFERENCE: &str = "token_factory.inference";
/// The scope model lists need.
pub const MODELS_READ: &str = "token_factory.models.read";
/// Adding, enabling and disabling models.
pub const MODELS_MANAGE: &str = "token_factory.models.manage";
/// Registering and removing endpoints.
pub const ROUTING_MANAGE: &str = "token_factory.routing.manage";

/// Which routes a model serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// `/v1/chat/completions` and `/v1/completions`.
    Chat,
    /// `/v1/embeddings`.
    Embedding,
}

impl ModelKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
        }
    }

    /// The kind stored as `s`.
    pub fn parse(s: &str) -> Option<ModelKind> {
        match s {
            "chat" => Some(ModelKind::Chat),
            "embedding" => Some(ModelKind::Embedding),
            _ => None,
        }
    }
}

/// A model to add to the catalog.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    /// The id clients name (`model`), 1 to 96 of `A-Z a-z 0-9 . _ : / -`.
    pub id: String,
    /// A name for people.
    pub display_name: String,
    /// chat or embedding.
    pub kind: ModelKind,
    /// Input plus output tokens the model takes.
    pub context_length: u32,
    /// Most output tokens a request may ask for (and the default it is given).
    pub max_output_tokens: u32,
    /// Models tried, in order, when none of this one's endpoints can take a request.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Needs the project entitlement `token_factory.premium_models`.
    #[serde(default)]
    pub premium: bool,
    /// Endpoints serving it (more can be added later).
    #[serde(default)]
    pub endpoints: Vec<NewEndpoint>,
}

/// An upstream endpoint to register for a model.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Its name within the model, 1 to 63 of `a-z 0-9 _ -`.
    pub name: String,
    /// An OpenAI-compatible base URL ending in `/v1` (http or https), or `demo://echo` /
    /// `demo://embed` for the built-in demo upstream.
    pub base_url: String,
    /// The model name the upstream knows.
    pub upstream_model: String,
    /// The environment variable holding the upstream's API key (never the key itself).
    #[serde(default)]
    pub credential_env: Option<String>,
    /// Share of traffic among the model's endpoints, 1 to 1000.
    #[serde(default = "one")]
    pub weight: u32,
    /// Milliseconds the upstream gets to start answering, and between streamed chunks.
    #[serde(default = "thirty_seconds")]
    pub timeout_ms: u32,
    /// Requests in flight at once on this endpoint.
    #[serde(default = "hundred")]
    pub max_in_flight: u32,
}

fn one() -> u32 {
    1
}
fn thirty_seconds() -> u32 {
    30_000
}
fn hundred() -> u32 {
    100
}

/// A model as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModelView {
    /// Id.
    pub id: String,
    /// Name for people.
    pub display_name: String,
    /// chat or embedding.
    pub kind: ModelKind,
    /// Context length, tokens.
    pub context_length: u32,
    /// Most output tokens per request.
    pub max_output_tokens: u32,
    /// Fallback models, in order.
    pub fallbacks: Vec<String>,
    /// Needs the premium entitlement.
    pub premium: bool,
    /// enabled or disabled.
    pub state: String,
    /// Its endpoints, with their health (shared by every process) and load (this process).
    pub endpoints: Vec<EndpointView>,
    /// Added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An endpoint as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// Id.
    pub id: Uuid,
    /// Name within its model.
    pub name: String,
    /// Base URL.
    pub base_url: String,
    /// The upstream's model name.
    pub upstream_model: String,
    /// Environment variable of its credential, if it has one.
    pub credential_env: Option<String>,
    /// Weight.
    pub weight: u32,
    /// Timeout, ms.
    pub timeout_ms: u32,
    /// Most requests in flight.
    pub max_in_flight: u32,
    /// healthy, or out_of_rotation after repeated failures until a probe succeeds.
    pub health: String,
    /// Requests in flight now, in this process.
    pub in_flight: u32,
}

/// The model catalog, as operators change it. Every change is audited with the packet's
/// actions in its transaction and reaches every process's gateway within a second.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync {
    /// Adds a model (enabled) with its endpoints. Needs `token_factory.models.manage`.
    async fn add_model(&self, caller: &Caller, model: NewModel) -> Result<ModelView, TfError>;

    /// Models by id after `after`. Needs `token_factory.models.read`.
    async fn models(
        &self,
        caller: &Caller,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<ModelView>, TfError>;

    /// One model. Needs `token_factory.models.read`.
    async fn model(&self, caller: &Caller, id: &str) -> Result<ModelView, TfError>;

    /// Enables or disables a model. Needs `token_factory.models.manage`.
    async fn set_enabled(
        &self,
        caller: &Caller,
        id: &str,
        enabled: bool,
    ) -> Result<ModelView, TfError>;

    /// Registers an endpoint for a model. Needs `token_factory.routing.manage`.
    async fn add_endpoint(
        &self,
        caller: &Caller,
        model: &str,
        endpoint: NewEndpoint,
    ) -> Result<ModelView, TfError>;

    /// Removes a model's endpoint. Needs `token_factory.routing.manage`.
    async fn remove_endpoint(
        &self,
        caller: &Caller,
        model: &str,
        name: &str,
    ) -> Result<ModelView, TfError>;
}

/// Token Factory's failures outside `/v1` (which answers [`wire::OpenAiError`]).
#[derive(Debug, thiserror::Error)]
pub enum TfError {
    /// A field is out of bounds or refused by a rule.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// Field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such model or endpoint.
    #[error("{0}")]
    NotFound(String),
    /// Refused by the current state (a duplicate id).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not.
    #[error("{0}")]
    Forbidden(String),
    /// The change could not be audited.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// IAM refused or failed.
    #[error(transparent)]
    Iam(#[from] IamError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl TfError {
    /// An invalid field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> TfError {
        TfError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<diesel::result::Error> for TfError {
    fn from(err: diesel::result::Error) -> TfError {
        TfError::Db(DbError::from(err))
    }
}

impl From<TfError> for ApiError {
    fn from(err: TfError) -> ApiError {
        match err {
            TfError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            TfError::NotFound(detail) => ApiError::NotFound(detail),
            TfError::Conflict(detail) => ApiError::Conflict {
                detail,
                errors: Vec::new(),
            },
            TfError::Forbidden(detail) => ApiError::Forbidden(detail),
            TfError::Audit(audit) => audit.into(),
            TfError::Iam(iam) => iam.into(),
            TfError::Db(db) => db.into(),
        }
    }
}
