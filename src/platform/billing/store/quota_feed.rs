//! The quota feed: usage totals per organization, project, actor and unit for a month,
//! read through the trait and announced per group commit, so policy enforces monthly
//! quotas without reading billing's tables.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Numeric, Text, Uuid as SqlUuid};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::super::{BillingError, Period, UsageEvent, UsageTotal};
use super::posting::Writer;
use crate::platform::events::Message;

/// Subject of the per-group announcement.
const USAGE_RECORDED: &str = "platform.billing.usage_recorded";

/// (organization, project, actor kind, actor id, unit, month).
type Key = (Uuid, Uuid, &'static str, String, String, String);

/// One outbox message for the group: what it added, per key, in the month each event
/// occurred in.
pub fn announce(
    conn: &mut PgConnection,
    writer: &Writer,
    batch: Uuid,
    captured: &[&UsageEvent],
) -> Result<(), BillingError> {
    if captured.is_empty() {
        return Ok(());
    }
    let mut added: BTreeMap<Key, Decimal> = BTreeMap::new();
    for e in captured {
        let period = Period::of(e.occurred_at.to_offset(time::UtcOffset::UTC)).to_string();
        let key = (
            e.organization_id,
            e.project_id,
            e.actor.kind.as_str(),
            e.actor.id.clone(),
            e.unit.clone(),
            period,
        );
        *added.entry(key).or_default() += e.quantity;
    }
    add_totals(conn, &added)?;
    let totals: Vec<_> = added
        .into_iter()
        .map(|((org, project, kind, actor, unit, period), quantity)| {
            json!({
                "organization_id": org, "project_id": project, "actor_kind": kind,
                "actor_id": actor, "unit": unit, "period": period,
                "quantity_added": quantity.normalize().to_string(),
            })
        })
        .collect();
    let payload = json!({ "batch_id": batch, "totals": totals });
    writer
        .events
        .publish_in(conn, Message::new(USAGE_RECORDED, payload))
        .map_err(|err| BillingError::Unavailable(format!("announcing {USAGE_RECORDED}: {err}")))?;
    Ok(())
}

/// Adds a group's usage to the running totals, in key order (so concurrent groups that
/// share keys wait for each other in one direction only).
fn add_totals(conn: &mut PgConnection, added: &BTreeMap<Key, Decimal>) -> Result<(), BillingError> {
    use super::super::schema::usage_totals as t;
    use diesel::upsert::excluded;
    let rows: Vec<_> = added
        .iter()
        .map(|((org, project, kind, actor, unit, period), quantity)| {
            (
                t::organization_id.eq(*org),
                t::project_id.eq(*project),
                t::actor_kind.eq(*kind),
                t::actor_id.eq(actor),
                t::unit.eq(unit),
                t::period.eq(period),
                t::quantity.eq(*quantity),
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        diesel::insert_into(t::table)
            .values(chunk)
            .on_conflict((
                t::organization_id,
                t::period,
                t::project_id,
                t::actor_kind,
                t::actor_id,
                t::unit,
            ))
            .do_update()
            .set(t::quantity.eq(t::quantity + excluded(t::quantity)))
            .execute(conn)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct TotalRow {
    #[diesel(sql_type = SqlUuid)]
    project_id: Uuid,
    #[diesel(sql_type = Text)]
    actor_kind: String,
    #[diesel(sql_type = Text)]
    actor_id: String,
    #[diesel(sql_type = Text)]
    unit: String,
    #[diesel(sql_type = Numeric)]
    quantity: Decimal,
}

/// The organization's usage that occurred in `period`, per project, actor and unit.
pub fn totals(conn: &mut PgConnection, org: Uuid, period: Period) -> QueryResult<Vec<UsageTotal>> {
    let rows: Vec<TotalRow> = diesel::sql_query(
        "SELECT project_id, actor_kind, actor_id, unit, quantity FROM billing.usage_totals \
         WHERE organization_id = $1 AND period = $2 ORDER BY 1, 2, 3, 4",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(period.to_string())
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| UsageTotal {
            organization_id: org,
            project_id: r.project_id,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            unit: r.unit,
            quantity: r.quantity.normalize(),
        })
        .collect())
}
