//! Reads the whole policy book: the latest version of every plan, every assignment, every
//! entitlement setting and every override not cleared (expired overrides too: they stop
//! applying at their instant, so the book needs no reload then).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use diesel::prelude::*;

use super::super::book::{Assignment, Book, Fast, LimitKey, PlanVersion};
use super::super::entitlements::Settings;
use super::super::schema::{
    assignments, changes, entitlement_settings, overrides, plan_limits, plans,
};
use super::rows::{AssignmentRow, EntitlementRow, LimitRow, OverrideRow, PlanRow, resource_of};
use crate::base::db::DbError;

/// The book, in one repeatable-read snapshot so its parts agree.
pub fn load(conn: &mut PgConnection) -> Result<Book, DbError> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|conn| load_on(conn).map_err(DbError::from))
}

fn load_on(conn: &mut PgConnection) -> QueryResult<Book> {
    let version: Option<i64> = changes::table
        .select(diesel::dsl::max(changes::id))
        .first(conn)?;
    let plans = latest_plans(conn)?;
    let mut by_org: HashMap<uuid::Uuid, Vec<Assignment>, Fast> = HashMap::default();
    let rows: Vec<AssignmentRow> = assignments::table
        .order((assignments::effective_from, assignments::created_at))
        .select(AssignmentRow::as_select())
        .load(conn)?;
    for row in rows {
        by_org
            .entry(row.organization_id)
            .or_default()
            .push(Assignment {
                plan: row.plan_name,
                effective_from: row.effective_from,
            });
    }
    let rows: Vec<OverrideRow> = overrides::table
        .filter(overrides::cleared_at.is_null())
        .select(OverrideRow::as_select())
        .load(conn)?;
    let overrides = rows
        .iter()
        .filter_map(OverrideRow::to_book)
        .map(|o| (o.slot.clone(), Arc::new(o)))
        .collect();
    Ok(Book {
        version: version.unwrap_or(0),
        plans,
        assignments: by_org,
        overrides,
        entitlements: live_entitlements(conn)?,
    })
}

/// Every live entitlement setting, by entitlement.
fn live_entitlements(conn: &mut PgConnection) -> QueryResult<HashMap<String, Settings, Fast>> {
    let rows: Vec<EntitlementRow> = entitlement_settings::table
        .filter(entitlement_settings::cleared_at.is_null())
        .select(EntitlementRow::as_select())
        .load(conn)?;
    let mut by_entitlement: HashMap<String, Settings, Fast> = HashMap::default();
    for setting in rows.iter().filter_map(EntitlementRow::to_book) {
        by_entitlement
            .entry(setting.entitlement.clone())
            .or_default()
            .insert(setting);
    }
    Ok(by_entitlement)
}

/// The latest version of each plan, with its limits.
fn latest_plans(conn: &mut PgConnection) -> QueryResult<HashMap<String, Arc<PlanVersion>, Fast>> {
    let rows: Vec<PlanRow> = plans::table
        .distinct_on(plans::name)
        .order((plans::name, plans::version.desc()))
        .select(PlanRow::as_select())
        .load(conn)?;
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
    let limits: Vec<LimitRow> = plan_limits::table
        .filter(plan_limits::plan_id.eq_any(&ids))
        .select(LimitRow::as_select())
        .load(conn)?;
    let mut by_plan: HashMap<uuid::Uuid, BTreeMap<LimitKey, super::super::book::Setting>> =
        HashMap::new();
    for limit in limits {
        let key = LimitKey {
            dimension: limit.dimension.clone(),
            resource: resource_of(&limit.resource_type, &limit.resource_id),
        };
        by_plan
            .entry(limit.plan_id)
            .or_default()
            .insert(key, limit.setting());
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let plan = PlanVersion {
                id: row.id,
                limits: by_plan.remove(&row.id).unwrap_or_default(),
                label: Arc::from(format!("{}@{}", row.name, row.version)),
                name: row.name.clone(),
                version: row.version,
                description: row.description,
                products: row.products,
                created_by: row.created_by,
                created_at: row.created_at,
            };
            (row.name, Arc::new(plan))
        })
        .collect())
}
