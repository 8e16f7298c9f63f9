//! Token Factory's own analytics, apart from the ledger: per request latency (total and
//! gateway overhead), tokens, status, model, endpoint and key, written in batches off the
//! request path and rolled up by hour and day. Read here for dashboards and investigations.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::TfError;
use crate::platform::iam::Caller;

/// Reading analytics (organization-wide reads need it there; gateway-wide reads at
/// platform scope).
pub const USAGE_READ: &str = "token_factory.usage.read";

/// One day of one model's traffic in an organization.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DailyModelUsage {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The model.
    pub model: String,
    /// Requests answered.
    pub requests: i64,
    /// Of which answered with an error.
    pub errors: i64,
    /// Input tokens billed.
    pub input_tokens: i64,
    /// Output tokens billed.
    pub output_tokens: i64,
    /// Mean time from arrival to the last byte, milliseconds.
    pub mean_latency_ms: f64,
    /// Mean time spent in the gateway rather than the upstream, milliseconds.
    pub mean_overhead_ms: f64,
}

/// A request answered with an error.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FailedRequest {
    /// The gateway's request id.
    pub request_id: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Organization.
    pub organization_id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Key prefix.
    pub key_prefix: String,
    /// Model asked for.
    pub model: String,
    /// `model/endpoint` that served, if one did.
    pub endpoint: Option<String>,
    /// Status the client saw.
    pub status: i32,
    /// Error code the client saw.
    pub error_code: Option<String>,
    /// Total latency, milliseconds.
    pub latency_ms: f64,
}

/// The provider's reported tokens beside the gateway's own count, where both exist.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CountComparison {
    /// The model.
    pub model: String,
    /// Requests with both counts.
    pub requests: i64,
    /// Input tokens the provider reported.
    pub reported_input: i64,
    /// Input tokens the gateway counted.
    pub counted_input: i64,
    /// Output tokens the provider reported.
    pub reported_output: i64,
    /// Output tokens the gateway counted.
    pub counted_output: i64,
    /// Requests billed from the gateway's count (no report), over the same days.
    pub estimated_requests: i64,
}

/// Reads of the gateway's analytics.
#[async_trait::async_trait]
pub trait Analytics: Send + Sync {
    /// Traffic per day and model of an organization over the last `days` days (1 to 366),
    /// oldest first. Needs `token_factory.usage.read` in the organization.
    async fn daily_usage(
        &self,
        caller: &Caller,
        organization: &str,
        days: u16,
    ) -> Result<Vec<DailyModelUsage>, TfError>;

    /// Failed requests across the gateway, newest first, older than the request id
    /// `before`. Needs `token_factory.usage.read` at platform scope.
    async fn failures(
        &self,
        caller: &Caller,
        before: Option<String>,
        limit: usize,
    ) -> Result<Vec<FailedRequest>, TfError>;

    /// Reported against counted tokens per model over the last `days` days. Needs
    /// `token_factory.usage.read` at platform scope.
    async fn counts(&self, caller: &Caller, days: u16) -> Result<Vec<CountComparison>, TfError>;
}
