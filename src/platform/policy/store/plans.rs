//! `Plans`: plan versions (never edited; a change is the next version) and assignments,
//! each written in a transaction with its audit event.

use std::collections::BTreeSet;

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::book::{Book, Setting, Slot};
use super::super::compose::check_against;
use super::super::schema::{assignments, plan_limits, plans};
use super::super::value::Level;
use super::super::views::{AssignmentView, NewPlan, PlanLimit, PlanView};
use super::super::{POLICY_READ, POLICY_WRITE, Plans, PolicyError};
use super::rows::{AssignmentRow, LimitRow, PlanRow, amount_of, resource_parts};
use super::scopes;
use super::{PgPolicy, changed};
use crate::platform::audit::{Actor, Audit, NewEvent};
use crate::platform::iam::{Caller, Target};

/// Most values one plan version holds.
const MAX_LIMITS: usize = 256;
/// Most products one plan names.
const MAX_PRODUCTS: usize = 64;
/// How far from now an assignment may start.
const MAX_ASSIGN_OFFSET: Duration = Duration::days(3660);

#[async_trait::async_trait]
impl Plans for PgPolicy {
    async fn create_plan(&self, caller: &Caller, plan: NewPlan) -> Result<PlanView, PolicyError> {
        self.authorized(caller, POLICY_WRITE, Target::Platform)
            .await?;
        let products: BTreeSet<String> = self
            .with
            .registry
            .products()
            .await
            .map_err(|err| PolicyError::Conflict(format!("the registry could not be read: {err}")))?
            .into_iter()
            .map(|p| p.id)
            .collect();
        self.check_plan(&plan, &products)?;
        let now = self.with.clock.now();
        self.change(caller, move |conn, audit, actor| {
            create_plan_on(conn, audit, actor, plan, now)
        })
        .await
    }

    async fn plans(
        &self,
        caller: &Caller,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<PlanView>, PolicyError> {
        self.authorized(caller, POLICY_READ, Target::Platform)
            .await?;
        let book = self.book.get();
        let mut names: Vec<&String> = book
            .plans
            .keys()
            .filter(|name| after.as_ref().is_none_or(|a| *name > a))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .take(limit)
            .filter_map(|name| book.plans.get(name))
            .map(|p| plan_view(p))
            .collect())
    }

    async fn plan(&self, caller: &Caller, name: &str) -> Result<Vec<PlanView>, PolicyError> {
        self.authorized(caller, POLICY_READ, Target::Platform)
            .await?;
        scopes::text("name", name, 63)?;
        let name = name.to_owned();
        let versions = self
            .db
            .run(move |conn| Ok::<_, PolicyError>(versions_on(conn, &name)?))
            .await?;
        match versions.is_empty() {
            true => Err(PolicyError::NotFound("no such plan".into())),
            false => Ok(versions),
        }
    }

    async fn assign(
        &self,
        caller: &Caller,
        organization: &str,
        plan: &str,
        effective_from: Option<OffsetDateTime>,
    ) -> Result<AssignmentView, PolicyError> {
        self.authorized(caller, POLICY_WRITE, Target::Platform)
            .await?;
        let place = self
            .authorized(caller, POLICY_READ, Target::org(organization))
            .await?;
        let org = place.org()?.id;
        if !self.book.get().plans.contains_key(plan) {
            return Err(PolicyError::invalid(
                "plan",
                format!("there is no plan `{plan}`"),
            ));
        }
        let now = self.with.clock.now();
        let from = effective_from.unwrap_or(now);
        if (from - now).abs() > MAX_ASSIGN_OFFSET {
            return Err(PolicyError::invalid(
                "effective_from",
                "must be within ten years of now",
            ));
        }
        let row = AssignmentRow {
            id: Uuid::now_v7(),
            organization_id: org,
            plan_name: plan.to_owned(),
            effective_from: from,
            created_by: caller.actor().id,
            created_at: now,
        };
        self.change(caller, move |conn, audit, actor| {
            assign_on(conn, audit, actor, row)
        })
        .await
    }

    async fn assignments(
        &self,
        caller: &Caller,
        organization: &str,
    ) -> Result<Vec<AssignmentView>, PolicyError> {
        let place = self
            .authorized(caller, POLICY_READ, Target::org(organization))
            .await?;
        let org = place.org()?.id;
        self.db
            .run(move |conn| {
                let rows: Vec<AssignmentRow> = assignments::table
                    .filter(assignments::organization_id.eq(org))
                    .order(assignments::effective_from)
                    .limit(200)
                    .select(AssignmentRow::as_select())
                    .load(conn)?;
                Ok(rows.into_iter().map(AssignmentView::from).collect())
            })
            .await
    }
}

impl PgPolicy {
    fn check_plan(&self, plan: &NewPlan, products: &BTreeSet<String>) -> Result<(), PolicyError> {
        let name_ok = plan.name.len() <= 63
            && plan.name.starts_with(|c: char| c.is_ascii_lowercase())
            && plan
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            return Err(PolicyError::invalid(
                "name",
                "must be 1 to 63 lowercase letters, digits, - or _, starting with a letter",
            ));
        }
        scopes::text("description", &plan.description, 500)?;
        if plan.products.is_empty() || plan.products.len() > MAX_PRODUCTS {
            return Err(PolicyError::invalid(
                "products",
                format!("must name 1 to {MAX_PRODUCTS} products, or [\"*\"]"),
            ));
        }
        if let Some(unknown) = plan
            .products
            .iter()
            .find(|p| *p != "*" && !products.contains(*p))
        {
            return Err(PolicyError::invalid(
                "products",
                format!("`{unknown}` is not a registered product"),
            ));
        }
        if plan.limits.len() > MAX_LIMITS {
            return Err(PolicyError::invalid(
                "limits",
                format!("at most {MAX_LIMITS} values"),
            ));
        }
        let book = self.book.get();
        let mut seen = BTreeSet::new();
        for limit in &plan.limits {
            self.check_limit(&book, plan, limit, &mut seen)?;
        }
        Ok(())
    }

    fn check_limit(
        &self,
        book: &Book,
        plan: &NewPlan,
        limit: &PlanLimit,
        seen: &mut BTreeSet<(String, Option<super::super::value::Resource>)>,
    ) -> Result<(), PolicyError> {
        let dimension = scopes::dimension(&self.dimensions, &limit.dimension)?;
        if !plan
            .products
            .iter()
            .any(|p| p == "*" || *p == dimension.product)
        {
            return Err(PolicyError::invalid(
                "limits",
                format!(
                    "`{}` belongs to {}, which the plan does not include",
                    dimension.id, dimension.product
                ),
            ));
        }
        let resource = match (&limit.resource_type, &limit.resource_id) {
            (Some(t), Some(id)) => Some(super::super::value::Resource {
                resource_type: t.clone(),
                id: id.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(PolicyError::invalid(
                    "resource_id",
                    "give both resource_type and resource_id, or neither",
                ));
            }
        };
        scopes::resource(self.with.registry.as_ref(), &dimension, resource.as_ref())?;
        if !seen.insert((limit.dimension.clone(), resource.clone())) {
            return Err(PolicyError::invalid(
                "limits",
                format!("`{}` is given twice", limit.dimension),
            ));
        }
        let global = |resource| Slot {
            level: Level::Global,
            scope_id: String::new(),
            dimension: limit.dimension.clone(),
            resource,
        };
        let mut parents = vec![(global(None), String::new())];
        if resource.is_some() {
            parents.push((global(resource), String::new()));
        }
        let setting = Setting {
            value: limit.value,
            delegate: limit.delegate,
        };
        check_against(book, None, parents, setting, self.with.clock.now()).map_err(|reason| {
            PolicyError::invalid("limits", format!("`{}`: {reason}", limit.dimension))
        })
    }
}

fn create_plan_on(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    plan: NewPlan,
    now: OffsetDateTime,
) -> Result<PlanView, PolicyError> {
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('policy.plans'))")
            .execute(conn)?;
        let latest: Option<i32> = plans::table
            .filter(plans::name.eq(&plan.name))
            .select(diesel::dsl::max(plans::version))
            .first(conn)?;
        let row = PlanRow {
            id: Uuid::now_v7(),
            name: plan.name.clone(),
            version: latest.unwrap_or(0) + 1,
            description: plan.description.clone(),
            products: plan.products.clone(),
            created_by: actor.id.clone(),
            created_at: now,
        };
        diesel::insert_into(plans::table)
            .values(&row)
            .execute(conn)?;
        let limits: Vec<LimitRow> = plan.limits.iter().map(|l| limit_row(row.id, l)).collect();
        diesel::insert_into(plan_limits::table)
            .values(&limits)
            .execute(conn)?;
        let view = view_of(row, &limits);
        let mut event = NewEvent::new(
            actor,
            "platform.policy.plan_created",
            "policy_plan",
            &view.id.to_string(),
        );
        event.details = serde_json::to_value(&view).unwrap_or_default();
        audit.append_in(conn, event)?;
        changed(conn, "plan created")?;
        Ok(view)
    })
}

fn limit_row(plan: Uuid, limit: &PlanLimit) -> LimitRow {
    let resource = limit
        .resource_type
        .clone()
        .zip(limit.resource_id.clone())
        .map(|(t, id)| super::super::value::Resource {
            resource_type: t,
            id,
        });
    let (resource_type, resource_id) = resource_parts(resource.as_ref());
    LimitRow {
        plan_id: plan,
        dimension: limit.dimension.clone(),
        resource_type,
        resource_id,
        value_kind: limit.value.kind().to_owned(),
        amount: amount_of(limit.value),
        delegate: limit.delegate,
    }
}

fn assign_on(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    row: AssignmentRow,
) -> Result<AssignmentView, PolicyError> {
    conn.transaction(|conn| {
        diesel::insert_into(assignments::table)
            .values(&row)
            .execute(conn)?;
        let view = AssignmentView::from(row);
        let mut event = NewEvent::new(
            actor,
            "platform.policy.plan_assigned",
            "organization",
            &view.organization_id.to_string(),
        );
        event.organization_id = Some(view.organization_id);
        event.details = serde_json::to_value(&view).unwrap_or_default();
        audit.append_in(conn, event)?;
        changed(conn, "plan assigned")?;
        Ok(view)
    })
}

/// Every version of a plan, newest first.
fn versions_on(conn: &mut PgConnection, name: &str) -> QueryResult<Vec<PlanView>> {
    let rows: Vec<PlanRow> = plans::table
        .filter(plans::name.eq(name))
        .order(plans::version.desc())
        .limit(200)
        .select(PlanRow::as_select())
        .load(conn)?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let limits: Vec<LimitRow> = plan_limits::table
        .filter(plan_limits::plan_id.eq_any(&ids))
        .order((
            plan_limits::dimension,
            plan_limits::resource_type,
            plan_limits::resource_id,
        ))
        .select(LimitRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mine: Vec<LimitRow> = limits
                .iter()
                .filter(|l| l.plan_id == row.id)
                .cloned()
                .collect();
            view_of(row, &mine)
        })
        .collect())
}

fn view_of(row: PlanRow, limits: &[LimitRow]) -> PlanView {
    PlanView {
        id: row.id,
        name: row.name,
        version: row.version,
        description: row.description,
        products: row.products,
        limits: limits.iter().map(LimitRow::view).collect(),
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

/// A plan version as the book holds it.
pub fn plan_view(plan: &super::super::book::PlanVersion) -> PlanView {
    PlanView {
        id: plan.id,
        name: plan.name.clone(),
        version: plan.version,
        description: plan.description.clone(),
        products: plan.products.clone(),
        limits: plan
            .limits
            .iter()
            .map(|(key, setting)| PlanLimit {
                dimension: key.dimension.clone(),
                resource_type: key.resource.as_ref().map(|r| r.resource_type.clone()),
                resource_id: key.resource.as_ref().map(|r| r.id.clone()),
                value: setting.value,
                delegate: setting.delegate,
            })
            .collect(),
        created_by: plan.created_by.clone(),
        created_at: plan.created_at,
    }
}
