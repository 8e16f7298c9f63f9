//! Policy: plans (versioned bundles of entitlements and limits), overrides at every scope,
//! effective snapshots with the scope each value came from, and admission decisions
//! answered from memory.
//!
//! Products declare dimensions in their packets (`quota_dimension`: rate, quota,
//! concurrency or capacity) and the levels their limits may be overridden at
//! (`override_scope`); policy holds the values. A value is set at one level of the chain
//! global → plan → organization → department → project → principal → API key, optionally
//! for one resource the product declares (a model); see [`compose`] for how they combine.
//!
//! # Decisions
//! [`Decisions::decide`] reads only memory: the policy book (a NOTIFY-refreshed snapshot),
//! the registry's active set, IAM's tenancy and this process's counters. Rates are GCRA
//! windows; quotas count billing's quota feed (read in the background, never billing's
//! tables) plus what this process admitted since; concurrency and capacity are held by the
//! returned [`Admission`] until it is dropped. Every ceiling of every requested dimension is
//! checked under its counter's lock before any is taken from, so a refusal consumes
//! nothing. Counters are per process: with several server processes each enforces its own
//! windows (DESIGN's "beyond one node").

mod admission;
mod admit;
mod book;
pub mod compose;
mod decision;
mod dimensions;
pub mod engine;
mod entitlements;
mod feed;
mod value;
mod views;
mod windows;

#[cfg(test)]
mod properties;

pub mod api;
pub mod cli;
pub mod pages;
mod schema;
pub mod store;

pub use book::Setting;
pub use compose::{Considered, Source, Status};
pub use decision::{Decision, DecisionInput, Delta, LimitState, Outcome, Reason, SnapshotVersion};
pub use engine::Admission;
pub use store::PgPolicy;
pub use value::{Level, MAX_AMOUNT, Resource, Value};
pub use views::{
    AssignmentView, EffectiveDimension, EffectiveEntitlement, EffectivePolicy, EffectiveQuery,
    EntitlementSettingView, NewEntitlementSetting, NewOverride, NewPlan, OverrideView, PlanLimit,
    PlanView, UsageVsLimit,
};

use crate::base::db::DbError;
use crate::kit::error::ApiError;
use crate::platform::audit::AuditError;
use crate::platform::iam::{Caller, IamError, OrganizationId, ProjectId};

/// Scopes of the platform's packet that policy checks.
pub const POLICY_READ: &str = "platform.policy.read";
/// Changing plans (platform scope), assignments and overrides (within the caller's scope).
pub const POLICY_WRITE: &str = "platform.policy.write";
/// Asking for a decision on behalf of a principal (out-of-process products).
pub const DECISIONS_CHECK: &str = "platform.decisions.check";

/// Plans and their assignment to organizations.
#[async_trait::async_trait]
pub trait Plans: Send + Sync {
    /// Creates a plan, or the next version of one. Needs `platform.policy.write` at
    /// platform scope; audited.
    async fn create_plan(&self, caller: &Caller, plan: NewPlan) -> Result<PlanView, PolicyError>;

    /// The latest version of each plan, by name, after `after`. Needs `platform.policy.read`.
    async fn plans(
        &self,
        caller: &Caller,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<PlanView>, PolicyError>;

    /// Every version of the plan `name`, newest first.
    async fn plan(&self, caller: &Caller, name: &str) -> Result<Vec<PlanView>, PolicyError>;

    /// Puts an organization on a plan from `effective_from` (now when `None`). Needs
    /// `platform.policy.write` at platform scope; audited.
    async fn assign(
        &self,
        caller: &Caller,
        organization: &str,
        plan: &str,
        effective_from: Option<time::OffsetDateTime>,
    ) -> Result<AssignmentView, PolicyError>;

    /// An organization's assignments, oldest first. Needs `platform.policy.read` there.
    async fn assignments(
        &self,
        caller: &Caller,
        organization: &str,
    ) -> Result<Vec<AssignmentView>, PolicyError>;
}

/// Overrides at any scope.
#[async_trait::async_trait]
pub trait Overrides: Send + Sync {
    /// Sets the override at a scope (replacing the live one there). Needs
    /// `platform.policy.write` where it applies, an override scope the dimension's product
    /// registered for that level, and a value no wider than the parents' ceiling (unless
    /// the nearest parent delegates); audited. Set with platform authority it is imposed:
    /// without that authority it cannot be replaced or cleared.
    async fn set_override(
        &self,
        caller: &Caller,
        new: NewOverride,
    ) -> Result<OverrideView, PolicyError>;

    /// Clears an override (an imposed one only with platform authority); audited.
    async fn clear_override(
        &self,
        caller: &Caller,
        id: uuid::Uuid,
    ) -> Result<OverrideView, PolicyError>;

    /// Overrides in an organization (every override, global and plan ones included, with
    /// platform-wide read when `organization` is `None`), oldest first after `after`.
    async fn overrides(
        &self,
        caller: &Caller,
        organization: Option<&str>,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<OverrideView>, PolicyError>;
}

/// Entitlements as scopes set them, and whether a project holds one.
#[async_trait::async_trait]
pub trait Entitlements: Send + Sync {
    /// Grants or withholds an active entitlement at a scope no deeper than its level,
    /// replacing the live setting there. Needs `platform.policy.write` where it applies
    /// (platform scope for `global` and `plan`). Without platform authority a caller may
    /// not grant what the level above withholds, nor replace a setting platform authority
    /// made there; what platform authority sets is `imposed`. Audited.
    async fn set_entitlement(
        &self,
        caller: &Caller,
        new: NewEntitlementSetting,
    ) -> Result<EntitlementSettingView, PolicyError>;

    /// Clears a live setting (the level above then decides). An imposed one needs platform
    /// authority; audited.
    async fn clear_entitlement(
        &self,
        caller: &Caller,
        id: uuid::Uuid,
    ) -> Result<EntitlementSettingView, PolicyError>;

    /// Live settings in an organization (every one, global and plan ones included, with
    /// platform-wide read when `organization` is `None`), oldest first after `after`.
    async fn entitlement_settings(
        &self,
        caller: &Caller,
        organization: Option<&str>,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<Vec<EntitlementSettingView>, PolicyError>;
}

/// Admission decisions, effective snapshots and usage against limits.
#[async_trait::async_trait]
pub trait Decisions: Send + Sync {
    /// Decides from memory, for a caller the product has already authenticated and
    /// authorized (an in-process product's request path).
    fn decide(&self, input: &DecisionInput) -> (Decision, Option<Admission>);

    /// From memory: whether the project holds the active entitlement `entitlement` (an
    /// undeclared one is never held). For an in-process product that has already
    /// authenticated its caller, e.g. to list only the models a key may use.
    fn holds(&self, organization: OrganizationId, project: ProjectId, entitlement: &str) -> bool;

    /// Decides for an out-of-process product: needs `platform.decisions.check` in the
    /// input's project.
    async fn decide_for(
        &self,
        caller: &Caller,
        input: DecisionInput,
    ) -> Result<(Decision, Option<Admission>), PolicyError>;

    /// The effective policy of a project (or one key in it, or one resource), each value
    /// with the scope it came from. Needs `platform.policy.read` in the project.
    async fn effective(
        &self,
        caller: &Caller,
        query: EffectiveQuery,
    ) -> Result<EffectivePolicy, PolicyError>;

    /// Each dimension's use against its ceiling in a project. Needs `platform.policy.read`.
    async fn usage(
        &self,
        caller: &Caller,
        query: EffectiveQuery,
    ) -> Result<Vec<UsageVsLimit>, PolicyError>;
}

/// Policy failures.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A field is out of bounds, unknown or refused by a rule (a widening override).
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// Field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such thing (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// Refused by the current state.
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

impl PolicyError {
    /// An invalid field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<diesel::result::Error> for PolicyError {
    fn from(err: diesel::result::Error) -> PolicyError {
        PolicyError::Db(DbError::from(err))
    }
}

impl From<PolicyError> for ApiError {
    fn from(err: PolicyError) -> ApiError {
        match err {
            PolicyError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            PolicyError::NotFound(detail) => ApiError::NotFound(detail),
            PolicyError::Conflict(detail) => ApiError::Conflict {
                detail,
                errors: Vec::new(),
            },
            PolicyError::Forbidden(detail) => ApiError::Forbidden(detail),
            PolicyError::Audit(audit) => audit.into(),
            PolicyError::Iam(iam) => iam.into(),
            PolicyError::Db(db) => db.into(),
        }
    }
}
