//! What an `ingest` group writes: its events captured, rated and posted in one transaction,
//! with one statement per table (capturing alone is `capture`'s). Groups touching one
//! organization post one after another (its funds lock).

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::BillingError;
use super::super::prices::PriceBook;
use super::super::usage::{Outcome, UsageEvent};
use super::posting::{UsageDebit, Writer};
use super::rows::{RatingRow, UsageRow};
use super::{prices, quota_feed, rating};

/// Most events one ingest call may carry.
pub const MAX_BATCH: usize = 1000;

/// What each organization owes for a group, while it is being written.
pub(super) type OrgDebits = HashMap<Uuid, Decimal>;

/// What each organization was charged by a group: (organization, journal, amount).
pub(super) type Debits = Vec<(Uuid, Uuid, Decimal)>;

/// Capture, rate and post `events` in the caller's transaction. Returns each event's
/// outcome and each organization's debit.
pub(super) fn write_group(
    conn: &mut PgConnection,
    writer: &Writer,
    events: &[UsageEvent],
) -> Result<(Vec<Outcome>, Debits), BillingError> {
    let captured = capture_new(conn, writer, events)?;
    let (rated, debits) = rate_all(
        conn,
        writer,
        events,
        &captured.indexes,
        &captured.ids,
        captured.at,
    )?;
    let debits = post_ratings(conn, writer, captured.batch, rated, &debits)?;
    quota_feed::announce(conn, writer, captured.batch, &captured.added)?;
    Ok((captured.outcomes(events.len()), debits))
}

/// What a group captured.
struct Captured {
    /// Its batch.
    batch: Uuid,
    /// When.
    at: OffsetDateTime,
    /// The indexes of the events inserted (the rest are duplicates), ascending.
    indexes: Vec<usize>,
    /// Each event's new usage id (used only where inserted).
    ids: Vec<Uuid>,
    /// What it added to the quota feed's totals (announced by whoever posts it).
    added: quota_feed::Added,
}

impl Captured {
    /// Accepted for the events inserted, duplicate for the rest.
    fn outcomes(&self, count: usize) -> Vec<Outcome> {
        let accepted: HashSet<usize> = self.indexes.iter().copied().collect();
        (0..count)
            .map(|i| match accepted.contains(&i) {
                true => Outcome::Accepted,
                false => Outcome::Duplicate,
            })
            .collect()
    }
}

/// Inserts the events not captured before, as one batch, and adds them to the quota feed's
/// totals.
fn capture_new(
    conn: &mut PgConnection,
    writer: &Writer,
    events: &[UsageEvent],
) -> Result<Captured, BillingError> {
    let at = writer.clock.now();
    let batch = Uuid::now_v7();
    let (firsts, ids) = first_of_each(events);
    let indexes = capture(conn, events, &firsts, &ids, batch, at)?;
    let captured_events: Vec<&UsageEvent> = indexes.iter().map(|i| &events[*i]).collect();
    let added = quota_feed::Added::of(&captured_events);
    quota_feed::record(conn, &added)?;
    Ok(Captured {
        batch,
        at,
        indexes,
        ids,
        added,
    })
}

/// Posts each organization's rated amounts as one journal transaction of `batch`, then
/// stores the ratings pointing at it. Returns the debits posted.
pub(super) fn post_ratings(
    conn: &mut PgConnection,
    writer: &Writer,
    batch: Uuid,
    rated: Vec<(Uuid, RatingRow)>,
    owed: &OrgDebits,
) -> Result<Debits, BillingError> {
    let debits: Vec<UsageDebit> = owed
        .iter()
        .map(|(org, amount)| UsageDebit {
            journal: Uuid::now_v7(),
            organization: *org,
            batch,
            amount: *amount,
        })
        .collect();
    writer.post_usage(conn, &debits)?;
    let journals: HashMap<Uuid, Uuid> =
        debits.iter().map(|d| (d.organization, d.journal)).collect();
    let rows: Vec<RatingRow> = rated
        .into_iter()
        .map(|(org, mut row)| {
            row.journal_id = (row.amount_minor > Decimal::ZERO)
                .then(|| journals.get(&org).copied())
                .flatten();
            row
        })
        .collect();
    super::bulk::insert_ratings(conn, &rows)?;
    Ok(debits
        .iter()
        .map(|d| (d.organization, d.journal, d.amount))
        .collect())
}

/// Each captured event's rating (by its organization) where a price covers it, and what
/// each organization owes for the group.
fn rate_all(
    conn: &mut PgConnection,
    writer: &Writer,
    events: &[UsageEvent],
    captured: &[usize],
    ids: &[Uuid],
    now: OffsetDateTime,
) -> Result<(Vec<(Uuid, RatingRow)>, OrgDebits), BillingError> {
    let units: Vec<String> = captured
        .iter()
        .map(|i| events[*i].unit.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let book = PriceBook::new(prices::of_units(conn, &units)?);
    let mut rated = Vec::new();
    let mut debits: HashMap<Uuid, Decimal> = HashMap::new();
    for index in captured {
        let event = &events[*index];
        if let Some(row) = rating::rate(
            &book,
            ids[*index],
            rating::Fact::of(event, &writer.currency),
            now,
        ) {
            if row.amount_minor > Decimal::ZERO {
                *debits.entry(event.organization_id).or_default() += row.amount_minor;
            }
            rated.push((event.organization_id, row));
        }
    }
    Ok((rated, debits))
}

/// The first occurrence of each (product, event id) in the group, in key order, and a new
/// id for each event; later occurrences are duplicates of the first.
pub(super) fn first_of_each(events: &[UsageEvent]) -> (Vec<usize>, Vec<Uuid>) {
    let mut seen = HashSet::new();
    let mut firsts: Vec<usize> = (0..events.len())
        .filter(|i| seen.insert((&events[*i].product, &events[*i].event_id)))
        .collect();
    // In key order, so two groups that meet on several keys wait for each other in one
    // direction only: concurrent groups never deadlock on the unique index.
    firsts.sort_by(|a, b| {
        let key = |i: &usize| (&events[*i].product, &events[*i].event_id);
        key(a).cmp(&key(b))
    });
    let ids = events.iter().map(|_| Uuid::now_v7()).collect();
    (firsts, ids)
}

/// Inserts the first occurrences, skipping event ids already captured (by an earlier call
/// or a concurrent transaction, which this one waits for). Returns the indexes inserted.
fn capture(
    conn: &mut PgConnection,
    events: &[UsageEvent],
    firsts: &[usize],
    ids: &[Uuid],
    batch: Uuid,
    now: OffsetDateTime,
) -> QueryResult<Vec<usize>> {
    let by_id: HashMap<Uuid, usize> = firsts.iter().map(|i| (ids[*i], *i)).collect();
    let rows: Vec<UsageRow<'_>> = firsts
        .iter()
        .map(|i| usage_row(&events[*i], ids[*i], batch, now))
        .collect();
    let new_ids = super::bulk::insert_usage(conn, &rows, batch, now)?;
    let mut inserted: Vec<usize> = new_ids
        .iter()
        .filter_map(|id| by_id.get(id).copied())
        .collect();
    inserted.sort_unstable();
    Ok(inserted)
}

pub(super) fn usage_row(
    event: &UsageEvent,
    id: Uuid,
    batch: Uuid,
    now: OffsetDateTime,
) -> UsageRow<'_> {
    UsageRow {
        id,
        product: &event.product,
        event_id: &event.event_id,
        unit: &event.unit,
        quantity: event.quantity.normalize(),
        organization_id: event.organization_id,
        department_id: event.department_id,
        project_id: event.project_id,
        actor_kind: event.actor.kind.as_str(),
        actor_id: &event.actor.id,
        resource_type: &event.resource_type,
        resource_id: &event.resource_id,
        usage_source: &event.usage_source,
        occurred_at: event.occurred_at,
        received_at: now,
        correlation_id: event.correlation_id.as_deref(),
        attributes: serde_json::Value::Object(event.attributes.clone()),
        batch_id: batch,
    }
}
