//! Rating usage that arrived unrated, once a price covers it: what an operator does after
//! reading the unrated list and adding (possibly backdated) prices. Each event is rated at
//! the price in effect when it occurred. Runs take one advisory lock, so two never rate one
//! event twice (and `ratings`' key would refuse it anyway); ingestion does not contend: an
//! event it rates is rated in the transaction that captures it, and usage whose capture
//! waits for the poster is left to the poster.

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::super::BillingError;
use super::ingest::{Debits, OrgDebits, post_ratings};
use super::posting::Writer;
use super::rating::{self, UsageFact};
use crate::platform::audit::{Actor, Audit, NewEvent};

/// Most events one run rates; the next run takes the rest.
const MAX_PER_RUN: i64 = 5000;

/// Rates what a price now covers; returns how many events were rated, and the debits.
pub fn run(
    conn: &mut PgConnection,
    writer: &Writer,
    audit: &dyn Audit,
    actor: &Actor,
) -> Result<(usize, Debits), BillingError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('billing.rate_unrated'))")
        .execute(conn)?;
    // Usage whose capture waits for the poster is the poster's to rate.
    let waiting: Vec<UsageFact> = diesel::sql_query(
        "SELECT u.id, u.product, u.unit, u.resource_type, u.resource_id, u.quantity, u.occurred_at, \
                u.organization_id, u.batch_id \
         FROM billing.usage_events u LEFT JOIN billing.ratings r ON r.usage_id = u.id \
         WHERE r.usage_id IS NULL AND NOT EXISTS (SELECT 1 FROM billing.usage_captures c \
           WHERE c.batch_id = u.batch_id AND c.organization_id = u.organization_id \
             AND c.posted_at IS NULL) \
         ORDER BY u.id LIMIT $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(MAX_PER_RUN)
    .load(conn)?;
    let book = rating::book_for(conn, &waiting)?;
    let now = writer.clock.now();
    let (mut rated, mut owed) = (Vec::new(), OrgDebits::new());
    for u in &waiting {
        if let Some(row) = rating::rate(&book, u.id, u.fact(&writer.currency), now) {
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
