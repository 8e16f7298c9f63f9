//! `Overrides`: set (replacing the live one at the same scope), clear and list, each change
//! in a transaction with its audit event.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::book::{Setting, Slot};
use super::super::compose::{Subject, check_narrowing};
use super::super::schema::overrides;
use super::super::value::Level;
use super::super::views::{NewOverride, OverrideView};
use super::super::{Overrides, POLICY_WRITE, PolicyError};
use super::rows::{OverrideRow, amount_of, resource_parts};
use super::scopes::{self, MAX_NAME, required};
use super::{PgPolicy, changed, imposed_here, queue_at_slot};
use crate::platform::audit::{Actor, Audit, NewEvent};
use crate::platform::iam::{Caller, OrganizationId, ProjectId, Target};

/// The longest an override may run.
const MAX_DURATION: Duration = Duration::days(3660);

/// Where an override applies, resolved.
struct Scope {
    slot: Slot,
    subject: Subject,
    organization_id: Option<Uuid>,
    project_id: Option<Uuid>,
}

#[async_trait::async_trait]
impl Overrides for PgPolicy {
    async fn set_override(
        &self,
        caller: &Caller,
        new: NewOverride,
    ) -> Result<OverrideView, PolicyError> {
        let dimension = scopes::dimension(&self.dimensions, &new.dimension)?;
        scopes::resource(
            self.with.registry.as_ref(),
            &dimension,
            new.resource.as_ref(),
        )?;
        scopes::override_scope(
            self.with.registry.as_ref(),
            &dimension,
            new.level,
            new.resource.as_ref(),
        )?;
        scopes::text("reason", &new.reason, 500)?;
        let now = self.with.clock.now();
        if let Some(at) = new.expires_at
            && (at <= now || at - now > MAX_DURATION)
        {
            return Err(PolicyError::invalid(
                "expires_at",
                "must be in the future, within ten years",
            ));
        }
        let scope = self.resolve(caller, &new).await?;
        let setting = Setting {
            value: new.value,
            delegate: new.delegate,
        };
        check_narrowing(&self.book.get(), &scope.subject, &scope.slot, setting, now)
            .map_err(|reason| PolicyError::invalid("value", reason))?;
        let (resource_type, resource_id) = resource_parts(scope.slot.resource.as_ref());
        let platform = self.platform_authority(caller).await;
        let row = OverrideRow {
            id: Uuid::now_v7(),
            level: scope.slot.level.as_str().to_owned(),
            scope_id: scope.slot.scope_id,
            organization_id: scope.organization_id,
            project_id: scope.project_id,
            dimension: new.dimension,
            resource_type,
            resource_id,
            value_kind: new.value.kind().to_owned(),
            amount: amount_of(new.value),
            delegate: new.delegate,
            reason: new.reason,
            author: caller.actor().id,
            expires_at: new.expires_at,
            created_at: now,
            cleared_at: None,
            cleared_by: None,
            imposed: platform,
        };
        self.change(caller, move |conn, audit, actor| {
            set_on(conn, audit, actor, row, now)
        })
        .await
    }

    async fn clear_override(&self, caller: &Caller, id: Uuid) -> Result<OverrideView, PolicyError> {
        let found: Option<OverrideRow> = self
            .db
            .run(move |conn| {
                Ok::<_, PolicyError>(
                    overrides::table
                        .find(id)
                        .filter(overrides::cleared_at.is_null())
                        .select(OverrideRow::as_select())
                        .first(conn)
                        .optional()?,
                )
            })
            .await?;
        let not_found = || PolicyError::NotFound("no live override with that id".into());
        let row = found.ok_or_else(not_found)?;
        let target = self
            .target_of(row.organization_id, row.project_id)
            .await?
            .ok_or_else(not_found)?;
        self.authorized(caller, POLICY_WRITE, target).await?;
        if row.imposed && !self.platform_authority(caller).await {
            return Err(imposed_here(&format!(
                "this override of `{}`",
                row.dimension
            )));
        }
        let now = self.with.clock.now();
        self.change(caller, move |conn, audit, actor| {
            clear_on(conn, audit, actor, row, now)
        })
        .await
    }

    async fn overrides(
        &self,
        caller: &Caller,
        organization: Option<&str>,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<OverrideView>, PolicyError> {
        let org = self.readable_org(caller, organization).await?;
        let now = self.with.clock.now();
        let limit = i64::try_from(limit).unwrap_or(200);
        self.db
            .run(move |conn| {
                let mut query = overrides::table
                    .order(overrides::id)
                    .limit(limit)
                    .select(OverrideRow::as_select())
                    .into_boxed();
                if let Some(org) = org {
                    query = query.filter(overrides::organization_id.eq(org));
                }
                if let Some(after) = after {
                    query = query.filter(overrides::id.gt(after));
                }
                let rows: Vec<OverrideRow> = query.load(conn)?;
                Ok(rows.iter().map(|r| r.view(now)).collect())
            })
            .await
    }
}

impl PgPolicy {
    /// The scope `new` names, after checking the caller may write there.
    async fn resolve(&self, caller: &Caller, new: &NewOverride) -> Result<Scope, PolicyError> {
        let slot = |scope_id: String| Slot {
            level: new.level,
            scope_id,
            dimension: new.dimension.clone(),
            resource: new.resource.clone(),
        };
        let platform = |scope_id: String| Scope {
            slot: slot(scope_id),
            subject: Subject {
                organization: Uuid::nil(),
                department: None,
                project: None,
                principal: None,
                api_key: None,
            },
            organization_id: None,
            project_id: None,
        };
        match new.level {
            Level::Global => {
                self.authorized(caller, POLICY_WRITE, Target::Platform)
                    .await?;
                Ok(platform(String::new()))
            }
            Level::Plan => {
                self.authorized(caller, POLICY_WRITE, Target::Platform)
                    .await?;
                let plan = required("plan", new.plan.as_deref())?;
                match self.book.get().plans.contains_key(plan) {
                    true => Ok(platform(plan.to_owned())),
                    false => Err(PolicyError::invalid(
                        "plan",
                        format!("there is no plan `{plan}`"),
                    )),
                }
            }
            Level::Organization | Level::Department => self.resolve_in_org(caller, new, slot).await,
            Level::Project | Level::Principal | Level::ApiKey => {
                self.resolve_in_project(caller, new, slot).await
            }
        }
    }

    async fn resolve_in_org(
        &self,
        caller: &Caller,
        new: &NewOverride,
        slot: impl Fn(String) -> Slot,
    ) -> Result<Scope, PolicyError> {
        let org_slug = required("organization", new.organization.as_deref())?;
        let place = self
            .authorized(caller, POLICY_WRITE, Target::org(org_slug))
            .await?;
        let org = place.org()?.id;
        let department = match new.level {
            Level::Department => {
                let wanted = required("department", new.department.as_deref())?;
                let found = self
                    .with
                    .tenancy
                    .departments(org_slug)
                    .await?
                    .into_iter()
                    .find(|d| d.slug == wanted);
                Some(
                    found
                        .ok_or_else(|| PolicyError::NotFound(format!("no department `{wanted}`")))?
                        .id,
                )
            }
            _ => None,
        };
        let scope_id = department.unwrap_or(org).to_string();
        Ok(Scope {
            slot: slot(scope_id),
            subject: Subject {
                organization: org,
                department,
                project: None,
                principal: None,
                api_key: None,
            },
            organization_id: Some(org),
            project_id: None,
        })
    }

    async fn resolve_in_project(
        &self,
        caller: &Caller,
        new: &NewOverride,
        slot: impl Fn(String) -> Slot,
    ) -> Result<Scope, PolicyError> {
        let org_slug = required("organization", new.organization.as_deref())?;
        let project_slug = required("project", new.project.as_deref())?;
        let place = self
            .authorized(
                caller,
                POLICY_WRITE,
                Target::project(org_slug, project_slug),
            )
            .await?;
        let project = place.project()?.clone();
        let mut subject = Subject {
            organization: project.organization_id,
            department: Some(project.department_id),
            project: Some(project.id),
            principal: None,
            api_key: None,
        };
        let scope_id = match new.level {
            Level::Principal => {
                let principal = new.principal.ok_or_else(|| {
                    PolicyError::invalid("principal", "is required at the principal level")
                })?;
                subject.principal = Some(principal);
                format!("{}:{principal}", project.id)
            }
            Level::ApiKey => {
                let prefix = required("api_key", new.api_key.as_deref())?;
                scopes::text("api_key", prefix, MAX_NAME)?;
                let key = self.with.keys.key_in(&project, prefix).await?;
                subject.principal = key.service_account_id.or(key.user_id);
                subject.api_key = Some(key.prefix.clone());
                key.prefix
            }
            _ => project.id.to_string(),
        };
        Ok(Scope {
            slot: slot(scope_id),
            subject,
            organization_id: Some(project.organization_id),
            project_id: Some(project.id),
        })
    }

    /// The IAM target an override's scope lies in; `None` when its organization or
    /// project is gone.
    pub(super) async fn target_of(
        &self,
        organization: Option<Uuid>,
        project: Option<Uuid>,
    ) -> Result<Option<Target>, PolicyError> {
        let Some(org) = organization else {
            return Ok(Some(Target::Platform));
        };
        let Some(org) = self
            .with
            .tenancy
            .organization_by_id(OrganizationId(org))
            .await?
        else {
            return Ok(None);
        };
        Ok(match project {
            None => Some(Target::org(&org.slug)),
            Some(project) => self
                .with
                .tenancy
                .project_by_id(ProjectId(project))
                .map(|p| Target::project(&org.slug, &p.slug)),
        })
    }
}

fn set_on(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    row: OverrideRow,
    now: OffsetDateTime,
) -> Result<OverrideView, PolicyError> {
    conn.transaction(|conn| {
        let slot = [
            &row.level,
            &row.scope_id,
            &row.dimension,
            &row.resource_type,
            &row.resource_id,
        ];
        queue_at_slot(conn, &format!("override:{slot:?}"))?;
        // Locked, so a clear cannot slip between this check and the write.
        let live: Option<OverrideRow> = overrides::table
            .filter(overrides::level.eq(&row.level))
            .filter(overrides::scope_id.eq(&row.scope_id))
            .filter(overrides::dimension.eq(&row.dimension))
            .filter(overrides::resource_type.eq(&row.resource_type))
            .filter(overrides::resource_id.eq(&row.resource_id))
            .filter(overrides::cleared_at.is_null())
            .select(OverrideRow::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        // An imposed override that has expired no longer applies, so it bars nothing.
        let imposed = live.as_ref().is_some_and(|l| l.imposed && l.view(now).live);
        if imposed && !row.imposed {
            return Err(imposed_here(&format!(
                "the override of `{}` at this scope",
                row.dimension
            )));
        }
        let replaced: Option<OverrideRow> = match &live {
            Some(live) => diesel::update(overrides::table.find(live.id))
                .set((
                    overrides::cleared_at.eq(now),
                    overrides::cleared_by.eq(&actor.id),
                ))
                .returning(OverrideRow::as_returning())
                .get_result(conn)
                .optional()?,
            None => None,
        };
        diesel::insert_into(overrides::table)
            .values(&row)
            .execute(conn)?;
        let view = row.view(now);
        let previous = replaced.map(|r| r.view(now));
        record(
            conn,
            audit,
            actor,
            &view,
            serde_json::json!({ "set": view, "replaced": previous }),
        )?;
        changed(conn, "override set")?;
        Ok(view)
    })
}

fn clear_on(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    row: OverrideRow,
    now: OffsetDateTime,
) -> Result<OverrideView, PolicyError> {
    conn.transaction(|conn| {
        let cleared: Option<OverrideRow> = diesel::update(overrides::table)
            .filter(overrides::id.eq(row.id))
            .filter(overrides::cleared_at.is_null())
            .set((
                overrides::cleared_at.eq(now),
                overrides::cleared_by.eq(&actor.id),
            ))
            .returning(OverrideRow::as_returning())
            .get_result(conn)
            .optional()?;
        let view = cleared
            .ok_or_else(|| PolicyError::NotFound("no live override with that id".into()))?
            .view(now);
        record(
            conn,
            audit,
            actor,
            &view,
            serde_json::json!({ "cleared": view }),
        )?;
        changed(conn, "override cleared")?;
        Ok(view)
    })
}

fn record(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    view: &OverrideView,
    details: serde_json::Value,
) -> Result<(), PolicyError> {
    let mut event = NewEvent::new(
        actor,
        "platform.policy.override_changed",
        "policy_override",
        &view.id.to_string(),
    );
    event.organization_id = view.organization_id;
    event.project_id = view.project_id;
    event.details = details;
    audit.append_in(conn, event)?;
    Ok(())
}
