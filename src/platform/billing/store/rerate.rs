//! Rating usage that arrived unrated, once a price covers it: what an operator does after
//! reading the unrated list and adding (possibly backdated) prices. Each event is rated at
//! the price in effect when it occurred. Runs take one advisory lock, so two never rate one
//! event twice (and `ratings`' key would refuse it anyway); ingestion does not contend: an
//! event it rates is rated in the transaction that captures it.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::{Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::BillingError;
use super::super::prices::{PriceBook, PriceKey};
use super::ingest::{Debits, OrgDebits, post_ratings};
use super::posting::Writer;
use super::{prices, rating};
use crate::platform::audit::{Actor, Audit, NewEvent};

/// Most events one run rates; the next run takes the rest.
const MAX_PER_RUN: i64 = 5000;

#[derive(QueryableByName)]
struct Unrated {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    product: String,
    #[diesel(sql_type = Text)]
    unit: String,
    #[diesel(sql_type = Text)]
    resource_type: String,
    #[diesel(sql_type = Text)]
    resource_id: String,
    #[diesel(sql_type = Numeric)]
    quantity: Decimal,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: OffsetDateTime,
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
}

/// Rates what a price now covers; returns how many events were rated, and the debits.
pub fn run(
    conn: &mut PgConnection,
    writer: &Writer,
    audit: &dyn Audit,
    actor: &Actor,
) -> Result<(usize, Debits), BillingError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('billing.rate_unrated'))")
        .execute(conn)?;
    let waiting: Vec<Unrated> = diesel::sql_query(
        "SELECT u.id, u.product, u.unit, u.resource_type, u.resource_id, u.quantity, u.occurred_at, \
                u.organization_id \
         FROM billing.usage_events u LEFT JOIN billing.ratings r ON r.usage_id = u.id \
         WHERE r.usage_id IS NULL ORDER BY u.id LIMIT $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(MAX_PER_RUN)
    .load(conn)?;
    let units: Vec<String> = waiting
        .iter()
        .map(|u| u.unit.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let book = PriceBook::new(prices::of_units(conn, &units)?);
    let now = writer.clock.now();
    let (mut rated, mut owed) = (Vec::new(), OrgDebits::new());
    for u in &waiting {
        let fact = rating::Fact {
            key: PriceKey {
                product: &u.product,
                unit: &u.unit,
                resource_type: &u.resource_type,
                resource_id: &u.resource_id,
                currency: &writer.currency,
            },
            occurred_at: u.occurred_at,
            quantity: u.quantity,
        };
        if let Some(row) = rating::rate(&book, u.id, fact, now) {
            *owed.entry(u.organization_id).or_default() += row.amount_minor;
            rated.push((u.organization_id, row));
        }
    }
    owed.retain(|_, amount| *amount > Decimal::ZERO);
    let count = rated.len();
    let debits = post_ratings(conn, writer, Uuid::now_v7(), rated, &owed)?;
    for (org, journal, amount) in &debits {
        let mut event = NewEvent::new(
            actor.clone(),
            "platform.billing.adjustment_posted",
            "ledger_entry",
            &journal.to_string(),
        );
        event.organization_id = Some(*org);
        event.details =
            json!({ "kind": "usage_rated_late", "amount_minor": amount.normalize().to_string() });
        audit.append_in(conn, event)?;
    }
    Ok((count, debits))
}
