//! Capture now, post behind: what `Metering::capture` writes on a product's request path.
//! A group is one statement committing on its own (`billing.capture_usage`): it inserts the
//! new events, adds them to the quota feed, and records one capture per organization with
//! the journal transaction its usage will be posted as; no organization lock is taken and
//! nothing is rated or posted. The poster (`poster`) does that moments later, in batches.
//! Until then each capture's cost, at the prices in memory, counts against this process's
//! spend guard under that journal id, and leaves it when a funds load sees the capture
//! posted (`funds_load::load_snapshot`).

use std::collections::{BTreeMap, HashSet};

use diesel::PgConnection;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::BillingError;
use super::super::guard::Guard;
use super::super::prices::PriceBook;
use super::super::usage::{Outcome, UsageEvent};
use super::ingest::{Debits, first_of_each, usage_row};
use super::posting::Writer;
use super::rows::UsageRow;
use super::{bulk, rating};

/// Writes one capture group; returns each event's outcome.
///
/// The guard must count a debit before its transaction commits (see the guard's module
/// doc), and here the statement commits itself, so each organization's estimate over every
/// event that looks new is registered first. Where the statement fails it is withdrawn;
/// where none of an organization's events was new there is no capture row, and its journal
/// will never be posted, so that one is withdrawn too. A group whose events were partly
/// duplicates keeps a larger estimate than it owes until its capture is posted.
pub(super) fn write(
    conn: &mut PgConnection,
    guard: &Guard,
    writer: &Writer,
    book: &PriceBook,
    events: &[UsageEvent],
) -> Result<Vec<Outcome>, BillingError> {
    let (batch, at) = (Uuid::now_v7(), writer.clock.now());
    let (firsts, ids) = first_of_each(events);
    let owed = estimates(book, writer, events, (&firsts, &ids), at);
    let journals: Vec<(Uuid, Uuid)> = owed.keys().map(|org| (*org, Uuid::now_v7())).collect();
    let debits: Debits = journals
        .iter()
        .zip(owed.values())
        .filter(|(_, amount)| **amount > Decimal::ZERO)
        .map(|((org, journal), amount)| (*org, *journal, *amount))
        .collect();
    guard.spent(&debits);
    let rows: Vec<UsageRow<'_>> = firsts
        .iter()
        .map(|i| usage_row(&events[*i], ids[*i], batch, at))
        .collect();
    let inserted: HashSet<Uuid> = match bulk::capture_usage(conn, &rows, (batch, at), &journals) {
        Ok(inserted) => inserted.into_iter().collect(),
        Err(err) => {
            guard.unspent(&debits);
            return Err(err.into());
        }
    };
    let captured: HashSet<Uuid> = firsts
        .iter()
        .filter(|i| inserted.contains(&ids[**i]))
        .map(|i| events[*i].organization_id)
        .collect();
    let never_posted: Debits = debits
        .into_iter()
        .filter(|(org, _, _)| !captured.contains(org))
        .collect();
    guard.unspent(&never_posted);
    Ok(ids
        .iter()
        .map(|id| match inserted.contains(id) {
            true => Outcome::Accepted,
            false => Outcome::Duplicate,
        })
        .collect())
}

/// Each organization's cost of the events at `firsts`, at the prices in memory (zero where
/// none covers one: the poster leaves such usage unrated).
fn estimates(
    book: &PriceBook,
    writer: &Writer,
    events: &[UsageEvent],
    (firsts, ids): (&[usize], &[Uuid]),
    at: OffsetDateTime,
) -> BTreeMap<Uuid, Decimal> {
    let mut owed: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    for index in firsts {
        let event = &events[*index];
        let fact = rating::Fact::of(event, &writer.currency);
        let estimate = rating::rate(book, ids[*index], fact, at)
            .map(|row| row.amount_minor)
            .unwrap_or_default();
        *owed.entry(event.organization_id).or_default() += estimate;
    }
    owed
}
