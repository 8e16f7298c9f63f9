//! What policy's traits take and answer.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::compose::Considered;
use super::value::{Level, Resource, Value};

/// A plan's value for one dimension (optionally one resource).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanLimit {
    /// A `quota_dimension` registry entry.
    pub dimension: String,
    /// A resource type of the dimension's product, with `resource_id`.
    pub resource_type: Option<String>,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// `{"kind": "limit", "amount": 600}`, `{"kind": "unlimited"}` or `{"kind": "not_entitled"}`.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Whether organizations on the plan may set a wider value.
    #[serde(default)]
    pub delegate: bool,
}

/// A plan (or its next version) to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewPlan {
    /// Lowercase letters, digits, `-` and `_`; a new name starts at version 1.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Products it gives access to (registry product ids), or `["*"]` for every one.
    pub products: Vec<String>,
    /// Its values.
    #[serde(default)]
    pub limits: Vec<PlanLimit>,
}

/// A plan version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    /// Id of this version.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Version.
    pub version: i32,
    /// Description.
    pub description: String,
    /// Products it gives access to.
    pub products: Vec<String>,
    /// Values.
    pub limits: Vec<PlanLimit>,
    /// Who made it.
    pub created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An organization's plan from an instant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssignmentView {
    /// Id.
    pub id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// The plan's name.
    pub plan: String,
    /// From when.
    #[serde(with = "time::serde::rfc3339")]
    pub effective_from: OffsetDateTime,
    /// Who assigned it.
    pub created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An override to set. Name the scope by its level and what that level needs: `plan` for
/// a plan; `organization` for every level below global and plan; `department` (slug) or
/// `project` (slug) in it; `principal` (an id) with its `project`; `api_key` (a prefix).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewOverride {
    /// The level.
    pub level: Level,
    /// The plan (plan level).
    pub plan: Option<String>,
    /// The organization's slug.
    pub organization: Option<String>,
    /// The department's slug.
    pub department: Option<String>,
    /// The project's slug.
    pub project: Option<String>,
    /// The user's or service account's id.
    pub principal: Option<Uuid>,
    /// The key's prefix.
    pub api_key: Option<String>,
    /// The dimension.
    pub dimension: String,
    /// A resource of a type the product declares, when the value is for one resource.
    pub resource: Option<Resource>,
    /// The value.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Whether lower scopes may set a wider value.
    #[serde(default)]
    pub delegate: bool,
    /// Why (shown in explanations and the audit trail).
    pub reason: String,
    /// When it stops applying.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// An override.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverrideView {
    /// Id.
    pub id: Uuid,
    /// Level.
    pub level: Level,
    /// The scope's id at that level.
    pub scope_id: String,
    /// Organization it is in.
    pub organization_id: Option<Uuid>,
    /// Project it is in.
    pub project_id: Option<Uuid>,
    /// Dimension.
    pub dimension: String,
    /// `type/id` of the resource it is for.
    pub resource: Option<String>,
    /// Value.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Whether it delegates.
    pub delegate: bool,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub author: String,
    /// When it stops applying.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was set.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was cleared or replaced.
    #[serde(with = "time::serde::rfc3339::option")]
    pub cleared_at: Option<OffsetDateTime>,
    /// Whether it applies now.
    pub live: bool,
    /// Set with platform authority: only platform authority may replace or clear it.
    pub imposed: bool,
}

/// Whose effective policy.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EffectiveQuery {
    /// Organization slug.
    pub organization: String,
    /// Project slug.
    pub project: String,
    /// A key in the project, by prefix.
    pub api_key: Option<String>,
    /// One resource.
    pub resource: Option<Resource>,
}

/// One dimension's effective value.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EffectiveDimension {
    /// Dimension.
    pub dimension: String,
    /// Its product.
    pub product: String,
    /// rate, quota, concurrency or capacity.
    pub kind: String,
    /// What is counted.
    pub unit: String,
    /// Window or period.
    pub window: Option<String>,
    /// The ceiling.
    #[schema(value_type = Object)]
    pub ceiling: Value,
    /// Level it came from (none: nothing limits it).
    pub scope: Option<Level>,
    /// The scope's id there.
    pub scope_id: Option<String>,
    /// Every value looked at, in chain order, and what became of it.
    pub considered: Vec<Considered>,
}

/// A project's (or key's) effective policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EffectivePolicy {
    /// Organization.
    pub organization_id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Key, when asked for one.
    pub api_key: Option<String>,
    /// Resource, when asked for one.
    pub resource: Option<String>,
    /// The plan in effect, `name@version`.
    pub plan: Option<String>,
    /// Policy changes so far.
    pub version: i64,
    /// SHA-256 of the effective values: equal hashes, equal policy.
    pub hash: String,
    /// Products the plan gives access to.
    pub products: Vec<String>,
    /// Every active dimension of those products.
    pub dimensions: Vec<EffectiveDimension>,
    /// Every active entitlement of those products.
    pub entitlements: Vec<EffectiveEntitlement>,
}

/// One dimension's use against its ceiling.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageVsLimit {
    /// Dimension.
    pub dimension: String,
    /// rate, quota, concurrency or capacity.
    pub kind: String,
    /// What is counted.
    pub unit: String,
    /// Window or period.
    pub window: Option<String>,
    /// The ceiling.
    #[schema(value_type = Object)]
    pub ceiling: Value,
    /// Level it came from.
    pub scope: Option<Level>,
    /// Counted under the tightest ceiling (in this window, period, or now).
    pub used: u64,
    /// Left under it (none when unlimited).
    pub remaining: Option<u64>,
}

/// An entitlement to grant or withhold at one scope: platform-wide (`global`), for a
/// `plan`, an `organization` (slug) or a `project` (slug, with its organization).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntitlementSetting {
    /// An `entitlement` registry entry.
    pub entitlement: String,
    /// `global`, `plan`, `organization` or `project`, no deeper than the entitlement's
    /// own level.
    pub level: Level,
    /// The plan (plan level).
    pub plan: Option<String>,
    /// The organization's slug.
    pub organization: Option<String>,
    /// The project's slug.
    pub project: Option<String>,
    /// Granted (true) or withheld (false).
    pub granted: bool,
    /// Why (shown in the audit trail).
    pub reason: String,
}

/// An entitlement as one scope sets it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntitlementSettingView {
    /// Id.
    pub id: Uuid,
    /// The entitlement.
    pub entitlement: String,
    /// Level.
    pub level: Level,
    /// Empty (global), the plan's name, or the organization's or project's id.
    pub scope_id: String,
    /// Organization it is in.
    pub organization_id: Option<Uuid>,
    /// Project it is in.
    pub project_id: Option<Uuid>,
    /// Granted or withheld.
    pub granted: bool,
    /// Set with platform authority: only platform authority may replace or clear it.
    pub imposed: bool,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub author: String,
    /// When it was set.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was cleared or replaced.
    #[serde(with = "time::serde::rfc3339::option")]
    pub cleared_at: Option<OffsetDateTime>,
}

/// Whether a project holds an entitlement, and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EffectiveEntitlement {
    /// The entitlement.
    pub entitlement: String,
    /// The product that declares it.
    pub product: String,
    /// Held.
    pub held: bool,
    /// The level of the setting that decided it; none: the entitlement's default.
    pub scope: Option<Level>,
    /// That setting's id.
    pub setting_id: Option<Uuid>,
}
