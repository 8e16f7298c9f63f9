//! The quota feed: usage totals per organization, project, actor and unit for a month,
//! kept in the transaction that captures the usage, read through the trait, and announced
//! (per group commit of `ingest`, per posting round of the poster for `capture`), so
//! policy enforces monthly quotas without reading billing's tables.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Numeric, Text, Uuid as SqlUuid};
use rust_decimal::Decimal;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::{BillingError, Period, UsageEvent, UsageTotal};
use super::posting::Writer;
use crate::platform::events::Message;

/// Subject of the per-group announcement.
const USAGE_RECORDED: &str = "platform.billing.usage_recorded";

/// (organization, project, actor kind, actor id, unit, month).
type Key = (Uuid, Uuid, String, String, String, String);

/// What some captured usage adds to the totals, per key, in the month each event occurred in.
#[derive(Debug, Default)]
pub struct Added(BTreeMap<Key, Decimal>);

impl Added {
    /// Counts `quantity` of `unit` by `actor` in `project` of `org`, occurred at `at`.
    pub fn add(
        &mut self,
        org: Uuid,
        project: Uuid,
        actor: (&str, &str),
        unit: &str,
        at: OffsetDateTime,
        quantity: Decimal,
    ) {
        let period = Period::of(at.to_offset(time::UtcOffset::UTC)).to_string();
        let key = (
            org,
            project,
            actor.0.to_owned(),
            actor.1.to_owned(),
            unit.to_owned(),
            period,
        );
        *self.0.entry(key).or_default() += quantity;
    }

    /// What `events` add.
    pub fn of(events: &[&UsageEvent]) -> Added {
        let mut added = Added::default();
        for e in events {
            let actor = (e.actor.kind.as_str(), e.actor.id.as_str());
            added.add(
                e.organization_id,
                e.project_id,
                actor,
                &e.unit,
                e.occurred_at,
                e.quantity,
            );
        }
        added
    }
}

/// One outbox message telling the feed's readers what `batch` added, per key.
pub fn announce(
    conn: &mut PgConnection,
    writer: &Writer,
    batch: Uuid,
    added: &Added,
) -> Result<(), BillingError> {
    if added.0.is_empty() {
        return Ok(());
    }
    let totals: Vec<_> = added
        .0
        .iter()
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

/// Adds captured usage to the running totals the feed reads, in the capture's transaction
/// and in key order (so concurrent groups that share keys wait for each other in one
/// direction only).
pub fn record(conn: &mut PgConnection, added: &Added) -> Result<(), BillingError> {
    use super::super::schema::usage_totals as t;
    use diesel::upsert::excluded;
    let rows: Vec<_> = added
        .0
        .iter()
        .map(|((org, project, kind, actor, unit, period), quantity)| {
            (
                t::organization_id.eq(*org),
                t::project_id.eq(*project),
                t::actor_kind.eq(kind),
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
