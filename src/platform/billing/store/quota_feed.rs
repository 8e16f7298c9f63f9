//! The quota feed: usage totals per organization, project, actor and unit for a month,
//! read through the trait and announced per group commit, so policy enforces monthly
//! quotas without reading billing's tables.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Numeric, Text, Timestamptz, Uuid as SqlUuid};
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
        let period = Period::of(e.occurred_at).to_string();
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
    let (from, to) = period.bounds();
    let rows: Vec<TotalRow> = diesel::sql_query(
        "SELECT project_id, actor_kind, actor_id, unit, sum(quantity) AS quantity \
         FROM billing.usage_events WHERE organization_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
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
