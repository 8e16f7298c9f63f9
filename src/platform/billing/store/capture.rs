//! Capture now, post behind: what `Metering::capture` writes on a product's request path.
//! A group's transaction inserts the new events, adds them to the quota feed, and records
//! one capture per organization with the journal transaction its usage will be posted as;
//! no organization lock is taken and nothing is rated or posted. The poster (`poster`) does
//! that moments later, in batches. Until then each capture's cost, at the prices in
//! memory, counts against this process's spend guard under that journal id, and leaves it
//! when a funds load sees the capture posted (`funds_load::load_snapshot`).

use std::collections::BTreeMap;

use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::super::BillingError;
use super::super::prices::PriceBook;
use super::super::schema::usage_captures;
use super::super::usage::{Outcome, UsageEvent};
use super::ingest::{Debits, capture_new};
use super::posting::Writer;
use super::rating;
use super::rows::CaptureRow;

/// Writes one capture group: each event's outcome, and each organization's estimated cost
/// under its capture's journal id (for the spend guard).
pub(super) fn write(
    conn: &mut PgConnection,
    writer: &Writer,
    book: &PriceBook,
    events: &[UsageEvent],
) -> Result<(Vec<Outcome>, Debits), BillingError> {
    let captured = capture_new(conn, writer, events)?;
    let mut owed: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    for index in &captured.indexes {
        let event = &events[*index];
        let fact = rating::Fact::of(event, &writer.currency);
        let estimate = rating::rate(book, captured.ids[*index], fact, captured.at)
            .map(|row| row.amount_minor)
            .unwrap_or_default();
        *owed.entry(event.organization_id).or_default() += estimate;
    }
    let rows: Vec<CaptureRow> = owed
        .keys()
        .map(|org| CaptureRow {
            journal_id: Uuid::now_v7(),
            batch_id: captured.batch,
            organization_id: *org,
            captured_at: captured.at,
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(usage_captures::table)
            .values(&rows)
            .execute(conn)?;
    }
    let debits = rows
        .iter()
        .zip(owed.values())
        .filter(|(_, amount)| **amount > Decimal::ZERO)
        .map(|(row, amount)| (row.organization_id, row.journal_id, *amount))
        .collect();
    Ok((captured.outcomes(events.len()), debits))
}
