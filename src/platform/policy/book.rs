//! The policy book: every plan, assignment and live override, held in memory (a
//! [`crate::base::db::snapshot::Snapshot`]) so composing a project's effective policy reads
//! no database.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::value::{Level, Resource, Value};

/// A value as a scope sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Setting {
    /// The value.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Whether the scopes below may set a wider value, which then replaces this one.
    pub delegate: bool,
}

/// A plan's value for a dimension, optionally for one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LimitKey {
    /// The dimension.
    pub dimension: String,
    /// The resource, when the value is specific to one.
    pub resource: Option<Resource>,
}

/// One version of a plan.
#[derive(Debug, Clone)]
pub struct PlanVersion {
    /// Id of this version.
    pub id: Uuid,
    /// The plan's name.
    pub name: String,
    /// 1, 2, ...
    pub version: i32,
    /// `name@version`, as decisions report it.
    pub label: Arc<str>,
    /// What it is for.
    pub description: String,
    /// Products it gives access to; `*` is every active product.
    pub products: Vec<String>,
    /// Its values.
    pub limits: BTreeMap<LimitKey, Setting>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
}

impl PlanVersion {
    /// Whether the plan gives access to `product`.
    pub fn entitles(&self, product: &str) -> bool {
        self.products.iter().any(|p| p == "*" || p == product)
    }
}

/// An organization put on a plan from an instant.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The plan's name (its latest version applies).
    pub plan: String,
    /// From when.
    pub effective_from: OffsetDateTime,
}

/// Where a value is set: a level, the scope's id there, and optionally a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    /// The level.
    pub level: Level,
    /// The scope's id: empty for global, the plan's name, an organization, department or
    /// project id, `<project id>:<principal id>` for a principal, a key's prefix.
    pub scope_id: String,
    /// The dimension.
    pub dimension: String,
    /// The resource, when specific to one.
    pub resource: Option<Resource>,
}

/// An override in force (until its expiry, if it has one).
#[derive(Debug, Clone)]
pub struct Override {
    /// Id.
    pub id: Uuid,
    /// Where it applies.
    pub slot: Slot,
    /// Its value.
    pub setting: Setting,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub author: String,
    /// When it stops applying.
    pub expires_at: Option<OffsetDateTime>,
}

impl Override {
    /// Whether it applies at `now`: an expired override stops at its expiry instant.
    pub fn live_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// The hasher of the book's maps, read on every decision.
pub type Fast = foldhash::fast::RandomState;

/// The plan every organization without an assignment is on.
pub const DEFAULT_PLAN: &str = "default";

/// Everything composition reads.
#[derive(Debug, Clone, Default)]
pub struct Book {
    /// Changes so far (the snapshot's version): bumps with every plan, assignment,
    /// override and entitlement setting written.
    pub version: i64,
    /// The latest version of each plan, by name.
    pub plans: HashMap<String, Arc<PlanVersion>, Fast>,
    /// Each organization's assignments, oldest first.
    pub assignments: HashMap<Uuid, Vec<Assignment>, Fast>,
    /// Overrides not cleared, by where they apply.
    pub overrides: HashMap<Slot, Arc<Override>, Fast>,
    /// Entitlement settings not cleared, by entitlement.
    pub entitlements: HashMap<String, super::entitlements::Settings, Fast>,
}

impl Book {
    /// The plan `organization` is on at `now`: its latest assignment that has begun, else
    /// the default plan. `None` when that plan does not exist (composition then fails
    /// closed).
    pub fn plan_of(&self, organization: Uuid, now: OffsetDateTime) -> Option<&Arc<PlanVersion>> {
        let name = self
            .assignments
            .get(&organization)
            .and_then(|list| list.iter().rev().find(|a| a.effective_from <= now))
            .map_or(DEFAULT_PLAN, |a| a.plan.as_str());
        self.plans.get(name)
    }
}
