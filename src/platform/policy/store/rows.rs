//! Rows of the policy schema and their conversions to the book's types and to views.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::book::{Override, Setting, Slot};
use super::super::entitlements::Setting as EntitlementSetting;
use super::super::schema::{assignments, entitlement_settings, overrides, plan_limits, plans};
use super::super::value::{Level, Resource, Value};
use super::super::views::{AssignmentView, EntitlementSettingView, OverrideView, PlanLimit};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = plans)]
pub struct PlanRow {
    pub id: Uuid,
    pub name: String,
    pub version: i32,
    pub description: String,
    pub products: Vec<String>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = plan_limits)]
pub struct LimitRow {
    pub plan_id: Uuid,
    pub dimension: String,
    pub resource_type: String,
    pub resource_id: String,
    pub value_kind: String,
    pub amount: Option<i64>,
    pub delegate: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments)]
pub struct AssignmentRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub plan_name: String,
    pub effective_from: OffsetDateTime,
    pub created_by: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = overrides)]
pub struct OverrideRow {
    pub id: Uuid,
    pub level: String,
    pub scope_id: String,
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub dimension: String,
    pub resource_type: String,
    pub resource_id: String,
    pub value_kind: String,
    pub amount: Option<i64>,
    pub delegate: bool,
    pub reason: String,
    pub author: String,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub cleared_at: Option<OffsetDateTime>,
    pub cleared_by: Option<String>,
    pub imposed: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = entitlement_settings)]
pub struct EntitlementRow {
    pub id: Uuid,
    pub entitlement: String,
    pub level: String,
    pub scope_id: String,
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub granted: bool,
    pub imposed: bool,
    pub reason: String,
    pub author: String,
    pub created_at: OffsetDateTime,
    pub cleared_at: Option<OffsetDateTime>,
    pub cleared_by: Option<String>,
}

impl EntitlementRow {
    /// As the book holds it; `None` for a level this build does not know.
    pub fn to_book(&self) -> Option<EntitlementSetting> {
        Some(EntitlementSetting {
            id: self.id,
            entitlement: self.entitlement.clone(),
            level: Level::parse(&self.level)?,
            scope_id: self.scope_id.clone(),
            granted: self.granted,
            imposed: self.imposed,
            reason: self.reason.clone(),
            author: self.author.clone(),
            created_at: self.created_at,
        })
    }

    pub fn view(&self) -> EntitlementSettingView {
        EntitlementSettingView {
            id: self.id,
            entitlement: self.entitlement.clone(),
            level: Level::parse(&self.level).unwrap_or(Level::Global),
            scope_id: self.scope_id.clone(),
            organization_id: self.organization_id,
            project_id: self.project_id,
            granted: self.granted,
            imposed: self.imposed,
            reason: self.reason.clone(),
            author: self.author.clone(),
            created_at: self.created_at,
            cleared_at: self.cleared_at,
        }
    }
}

/// A resource from its stored halves (both empty: none).
pub fn resource_of(resource_type: &str, resource_id: &str) -> Option<Resource> {
    (!resource_type.is_empty()).then(|| Resource {
        resource_type: resource_type.to_owned(),
        id: resource_id.to_owned(),
    })
}

/// The stored halves of a resource.
pub fn resource_parts(resource: Option<&Resource>) -> (String, String) {
    resource.map_or_else(Default::default, |r| {
        (r.resource_type.clone(), r.id.clone())
    })
}

/// A stored value as amount for the `amount` column.
pub fn amount_of(value: Value) -> Option<i64> {
    value.amount().and_then(|n| i64::try_from(n).ok())
}

impl LimitRow {
    /// The value; rows the CHECK constraints admit always convert, anything else is
    /// read as not entitled (fail closed).
    pub fn setting(&self) -> Setting {
        Setting {
            value: Value::from_parts(&self.value_kind, self.amount).unwrap_or(Value::NotEntitled),
            delegate: self.delegate,
        }
    }

    pub fn view(&self) -> PlanLimit {
        let resource = resource_of(&self.resource_type, &self.resource_id);
        PlanLimit {
            dimension: self.dimension.clone(),
            resource_type: resource.as_ref().map(|r| r.resource_type.clone()),
            resource_id: resource.map(|r| r.id),
            value: self.setting().value,
            delegate: self.delegate,
        }
    }
}

impl OverrideRow {
    /// As the book holds it; `None` for a level this build does not know.
    pub fn to_book(&self) -> Option<Override> {
        let level = Level::parse(&self.level)?;
        Some(Override {
            id: self.id,
            slot: Slot {
                level,
                scope_id: self.scope_id.clone(),
                dimension: self.dimension.clone(),
                resource: resource_of(&self.resource_type, &self.resource_id),
            },
            setting: Setting {
                value: Value::from_parts(&self.value_kind, self.amount)
                    .unwrap_or(Value::NotEntitled),
                delegate: self.delegate,
            },
            reason: self.reason.clone(),
            author: self.author.clone(),
            expires_at: self.expires_at,
        })
    }

    pub fn view(&self, now: OffsetDateTime) -> OverrideView {
        OverrideView {
            id: self.id,
            level: Level::parse(&self.level).unwrap_or(Level::Global),
            scope_id: self.scope_id.clone(),
            organization_id: self.organization_id,
            project_id: self.project_id,
            dimension: self.dimension.clone(),
            resource: resource_of(&self.resource_type, &self.resource_id)
                .map(|r| format!("{}/{}", r.resource_type, r.id)),
            value: Value::from_parts(&self.value_kind, self.amount).unwrap_or(Value::NotEntitled),
            delegate: self.delegate,
            reason: self.reason.clone(),
            author: self.author.clone(),
            expires_at: self.expires_at,
            created_at: self.created_at,
            cleared_at: self.cleared_at,
            live: self.cleared_at.is_none() && self.expires_at.is_none_or(|at| now < at),
            imposed: self.imposed,
        }
    }
}

impl From<AssignmentRow> for AssignmentView {
    fn from(row: AssignmentRow) -> AssignmentView {
        AssignmentView {
            id: row.id,
            organization_id: row.organization_id,
            plan: row.plan_name,
            effective_from: row.effective_from,
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}
