//! `Entitlements`: grant or withhold at a scope (replacing the live setting there), clear
//! and list, each change in a transaction with its audit event.

use std::sync::Arc;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::entitlements::{Definition, Holder, standing};
use super::super::schema::entitlement_settings as settings;
use super::super::value::Level;
use super::super::views::{EntitlementSettingView, NewEntitlementSetting};
use super::super::{Entitlements, POLICY_WRITE, PolicyError};
use super::rows::EntitlementRow;
use super::scopes::{self, MAX_NAME, required};
use super::{PgPolicy, changed, imposed_here, queue_at_slot};
use crate::platform::audit::{Actor, Audit, NewEvent};
use crate::platform::iam::{Caller, Target};

/// Where a setting applies, resolved: `holder` is none platform-wide and per plan.
struct Scope {
    level: Level,
    scope_id: String,
    holder: Option<Holder>,
}

#[async_trait::async_trait]
impl Entitlements for PgPolicy {
    async fn set_entitlement(
        &self,
        caller: &Caller,
        new: NewEntitlementSetting,
    ) -> Result<EntitlementSettingView, PolicyError> {
        let definition = self.definition(&new.entitlement)?;
        if !definition.settable_at(new.level) {
            return Err(PolicyError::invalid(
                "level",
                format!(
                    "`{}` applies per {}; it cannot be set at the {} level",
                    definition.id,
                    definition.level.as_str(),
                    new.level.as_str()
                ),
            ));
        }
        scopes::text("reason", &new.reason, 500)?;
        let scope = self.scope_of(caller, &new).await?;
        let now = self.with.clock.now();
        let platform = self.platform_authority(caller).await;
        if !platform {
            self.refuse_widening(&definition, &scope, new.granted, now)?;
        }
        let row = EntitlementRow {
            id: Uuid::now_v7(),
            entitlement: new.entitlement,
            level: scope.level.as_str().to_owned(),
            scope_id: scope.scope_id,
            organization_id: scope.holder.map(|h| h.organization),
            project_id: scope.holder.and_then(|h| h.project),
            granted: new.granted,
            imposed: platform,
            reason: new.reason,
            author: caller.actor().id,
            created_at: now,
            cleared_at: None,
            cleared_by: None,
        };
        self.change(caller, move |conn, audit, actor| {
            set_on(conn, audit, actor, row, platform, now)
        })
        .await
    }

    async fn clear_entitlement(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<EntitlementSettingView, PolicyError> {
        let row = self.live_setting(id).await?;
        let not_found = || PolicyError::NotFound("no live entitlement setting with that id".into());
        let target = self
            .target_of(row.organization_id, row.project_id)
            .await?
            .ok_or_else(not_found)?;
        self.authorized(caller, POLICY_WRITE, target).await?;
        if row.imposed && !self.platform_authority(caller).await {
            return Err(imposed_here(&format!("`{}`", row.entitlement)));
        }
        let now = self.with.clock.now();
        self.change(caller, move |conn, audit, actor| {
            clear_on(conn, audit, actor, row.id, now)
        })
        .await
    }

    async fn entitlement_settings(
        &self,
        caller: &Caller,
        organization: Option<&str>,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<EntitlementSettingView>, PolicyError> {
        let org = self.readable_org(caller, organization).await?;
        let limit = i64::try_from(limit).unwrap_or(200);
        self.db
            .run(move |conn| {
                let mut query = settings::table
                    .filter(settings::cleared_at.is_null())
                    .order(settings::id)
                    .limit(limit)
                    .select(EntitlementRow::as_select())
                    .into_boxed();
                if let Some(org) = org {
                    query = query.filter(settings::organization_id.eq(org));
                }
                if let Some(after) = after {
                    query = query.filter(settings::id.gt(after));
                }
                let rows: Vec<EntitlementRow> = query.load(conn)?;
                Ok(rows.iter().map(EntitlementRow::view).collect())
            })
            .await
    }
}

impl PgPolicy {
    /// The active entitlement `id`.
    fn definition(&self, id: &str) -> Result<Arc<Definition>, PolicyError> {
        scopes::text("entitlement", id, MAX_NAME)?;
        self.entitlements.get(id).ok_or_else(|| {
            PolicyError::invalid(
                "entitlement",
                format!("`{id}` is not an active entitlement"),
            )
        })
    }

    /// A tenant may withhold within its scope, and grant only what the level above already
    /// gives (the most it can widen to is its parent's standing). Whether platform authority
    /// imposed the setting it would replace is checked in the write's transaction.
    fn refuse_widening(
        &self,
        definition: &Definition,
        scope: &Scope,
        granted: bool,
        now: OffsetDateTime,
    ) -> Result<(), PolicyError> {
        let Some(holder) = scope.holder else {
            return Err(PolicyError::Forbidden(
                "only platform authority sets entitlements platform-wide or per plan".into(),
            ));
        };
        let parent = standing(&self.book.get(), definition, holder, now, Some(scope.level));
        if granted && !parent.held {
            return Err(PolicyError::Forbidden(format!(
                "`{}` is withheld above the {} level; only platform authority may grant it here",
                definition.id,
                scope.level.as_str()
            )));
        }
        Ok(())
    }

    /// Where `new` applies, once the caller may write policy there.
    async fn scope_of(
        &self,
        caller: &Caller,
        new: &NewEntitlementSetting,
    ) -> Result<Scope, PolicyError> {
        let platform = |scope_id: String| Scope {
            level: new.level,
            scope_id,
            holder: None,
        };
        if matches!(new.level, Level::Global | Level::Plan) {
            self.authorized(caller, POLICY_WRITE, Target::Platform)
                .await?;
        }
        match new.level {
            Level::Global => Ok(platform(String::new())),
            Level::Plan => {
                let plan = required("plan", new.plan.as_deref())?;
                match self.book.get().plans.contains_key(plan) {
                    true => Ok(platform(plan.to_owned())),
                    false => Err(PolicyError::invalid(
                        "plan",
                        format!("there is no plan `{plan}`"),
                    )),
                }
            }
            Level::Organization => {
                let slug = required("organization", new.organization.as_deref())?;
                let place = self
                    .authorized(caller, POLICY_WRITE, Target::org(slug))
                    .await?;
                let org = place.org()?.id;
                Ok(Scope {
                    level: Level::Organization,
                    scope_id: org.to_string(),
                    holder: Some(Holder {
                        organization: org,
                        project: None,
                    }),
                })
            }
            _ => {
                let org = required("organization", new.organization.as_deref())?;
                let slug = required("project", new.project.as_deref())?;
                let target = Target::project(org, slug);
                let place = self.authorized(caller, POLICY_WRITE, target).await?;
                let project = place.project()?;
                Ok(Scope {
                    level: Level::Project,
                    scope_id: project.id.to_string(),
                    holder: Some(Holder {
                        organization: project.organization_id,
                        project: Some(project.id),
                    }),
                })
            }
        }
    }

    async fn live_setting(&self, id: Uuid) -> Result<EntitlementRow, PolicyError> {
        let found: Option<EntitlementRow> = self
            .db
            .run(move |conn| {
                Ok::<_, PolicyError>(
                    settings::table
                        .find(id)
                        .filter(settings::cleared_at.is_null())
                        .select(EntitlementRow::as_select())
                        .first(conn)
                        .optional()?,
                )
            })
            .await?;
        found
            .ok_or_else(|| PolicyError::NotFound("no live entitlement setting with that id".into()))
    }
}

fn set_on(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    row: EntitlementRow,
    platform: bool,
    now: OffsetDateTime,
) -> Result<EntitlementSettingView, PolicyError> {
    conn.transaction(|conn| {
        let slot = [&row.entitlement, &row.level, &row.scope_id];
        queue_at_slot(conn, &format!("entitlement:{slot:?}"))?;
        // Locked, so a clear cannot slip between this check and the write.
        let live: Option<EntitlementRow> = settings::table
            .filter(settings::entitlement.eq(&row.entitlement))
            .filter(settings::level.eq(&row.level))
            .filter(settings::scope_id.eq(&row.scope_id))
            .filter(settings::cleared_at.is_null())
            .select(EntitlementRow::as_select())
            .for_update()
            .first(conn)
            .optional()?;
        if live.as_ref().is_some_and(|l| l.imposed) && !platform {
            return Err(imposed_here(&format!("`{}`", row.entitlement)));
        }
        let replaced: Option<EntitlementRow> = match &live {
            Some(live) => diesel::update(settings::table.find(live.id))
                .set((
                    settings::cleared_at.eq(now),
                    settings::cleared_by.eq(&actor.id),
                ))
                .returning(EntitlementRow::as_returning())
                .get_result(conn)
                .optional()?,
            None => None,
        };
        diesel::insert_into(settings::table)
            .values(&row)
            .execute(conn)?;
        let view = row.view();
        let previous = replaced.as_ref().map(EntitlementRow::view);
        let details = serde_json::json!({ "set": view, "replaced": previous });
        record(conn, audit, actor, &view, details)?;
        changed(conn, "entitlement set")?;
        Ok(view)
    })
}

fn clear_on(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<EntitlementSettingView, PolicyError> {
    conn.transaction(|conn| {
        let cleared: Option<EntitlementRow> = diesel::update(settings::table)
            .filter(settings::id.eq(id))
            .filter(settings::cleared_at.is_null())
            .set((
                settings::cleared_at.eq(now),
                settings::cleared_by.eq(&actor.id),
            ))
            .returning(EntitlementRow::as_returning())
            .get_result(conn)
            .optional()?;
        let not_found = || PolicyError::NotFound("no live entitlement setting with that id".into());
        let view = cleared.ok_or_else(not_found)?.view();
        let details = serde_json::json!({ "cleared": view });
        record(conn, audit, actor, &view, details)?;
        changed(conn, "entitlement cleared")?;
        Ok(view)
    })
}

fn record(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    view: &EntitlementSettingView,
    details: serde_json::Value,
) -> Result<(), PolicyError> {
    let mut event = NewEvent::new(
        actor,
        "platform.policy.entitlement_changed",
        "policy_entitlement",
        &view.id.to_string(),
    );
    event.organization_id = view.organization_id;
    event.project_id = view.project_id;
    event.details = details;
    audit.append_in(conn, event)?;
    Ok(())
}
