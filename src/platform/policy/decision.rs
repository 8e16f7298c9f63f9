//! What a decision is asked and what it answers.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::value::{Level, Resource, Value};
use crate::platform::iam::{OrganizationId, ProjectId};

/// Who acts, where, on what, asking for how much.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    /// The organization.
    pub organization: OrganizationId,
    /// The project (its department comes from IAM).
    pub project: ProjectId,
    /// The user or service account acting, if known.
    pub principal: Option<Uuid>,
    /// The API key acting, by prefix.
    pub api_key: Option<String>,
    /// The product whose dimensions are asked for (a registry product id).
    pub product: String,
    /// The resource acted on, when the product declares its type.
    pub resource: Option<Resource>,
    /// The action, for the record.
    pub action: Option<String>,
    /// Requested amounts per dimension.
    pub deltas: Vec<Delta>,
    /// Entitlements (registry ids) the project must hold; an undeclared one refuses.
    pub entitlements: Vec<Arc<str>>,
}

/// An amount of one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delta {
    /// A `quota_dimension` registry entry.
    pub dimension: String,
    /// How much (at most 10^15).
    pub amount: u64,
}

/// allow, deny or warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PolicyOutcome)]
pub enum Outcome {
    /// Admitted.
    Allow,
    /// Admitted, past the warning fraction of some ceiling.
    Warn,
    /// Refused; nothing was consumed.
    Deny,
}

/// Why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PolicyReason)]
pub enum Reason {
    /// Within every ceiling.
    Allowed,
    /// Within every ceiling, past the warning fraction of one.
    NearLimit,
    /// A rule refuses it whatever the usage (an unknown dimension, a request larger than
    /// the ceiling itself, a quota nothing can count).
    HardDeny,
    /// The period's quota is used up.
    QuotaExhausted,
    /// The plan (or a scope) does not entitle the product or dimension.
    EntitlementMissing,
    /// What the decision needs is not known fresh enough (the quota feed failed).
    StaleSnapshot,
    /// The rate window is full.
    RateLimited,
    /// Too many in flight.
    ConcurrencyExhausted,
    /// No physical capacity left.
    NoCapacity,
}

impl Reason {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::NearLimit => "near_limit",
            Reason::HardDeny => "hard_deny",
            Reason::QuotaExhausted => "quota_exhausted",
            Reason::EntitlementMissing => "entitlement_missing",
            Reason::StaleSnapshot => "stale_snapshot",
            Reason::RateLimited => "rate_limited",
            Reason::ConcurrencyExhausted => "concurrency_exhausted",
            Reason::NoCapacity => "no_capacity",
        }
    }
}

/// One requested dimension after the decision.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LimitState {
    /// The dimension.
    #[schema(value_type = String)]
    pub dimension: Arc<str>,
    /// The effective ceiling.
    #[schema(value_type = Object)]
    pub ceiling: Value,
    /// The level it was set at.
    pub scope: Option<Level>,
    /// The scope's id at that level.
    #[schema(value_type = Option<String>)]
    pub scope_id: Option<Arc<str>>,
    /// Units left under the tightest ceiling (none when unlimited).
    pub remaining: Option<u64>,
    /// Milliseconds until the tightest window is full again (rates), or until the period
    /// ends (quotas).
    pub reset_after_ms: Option<u64>,
}

/// The version of the policy a decision was made under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SnapshotVersion {
    /// Changes written to policy so far.
    pub version: i64,
    /// The plan in effect, `name@version`.
    #[schema(value_type = Option<String>)]
    pub plan: Option<Arc<str>>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = PolicyDecision)]
pub struct Decision {
    /// allow, warn or deny.
    pub decision: Outcome,
    /// Stable reason code.
    pub reason: Reason,
    /// Safe to show the caller.
    #[schema(value_type = String)]
    pub message: Cow<'static, str>,
    /// The dimension that decided a refusal (or warning).
    #[schema(value_type = Option<String>)]
    pub dimension: Option<Arc<str>>,
    /// The entitlement the project does not hold, when that refused it.
    #[schema(value_type = Option<String>)]
    pub entitlement: Option<Arc<str>>,
    /// Milliseconds after which a refused request would fit (rates only).
    pub retry_after_ms: Option<u64>,
    /// Each requested dimension.
    pub limits: Vec<LimitState>,
    /// The policy version.
    pub snapshot: SnapshotVersion,
    /// When it was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub decided_at: OffsetDateTime,
}

impl Decision {
    /// Whether the request was admitted.
    pub fn admitted(&self) -> bool {
        self.decision != Outcome::Deny
    }
}
