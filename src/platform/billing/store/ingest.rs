//! Capture with group commit: concurrent callers' events are written by one transaction
//! (capture, rating and posting for `ingest`; capture alone for `capture`, see `capture`),
//! with one statement per table; each caller is answered when the group it joined has
//! committed. Up to `billing.group_writers` (`capture_writers`) groups are in flight
//! per process (the insert work of one overlaps the commit of another, and PostgreSQL
//! spreads them over cores); callers arriving while all are busy form the next group, so
//! the busier it gets, the larger the groups. Groups touching one organization still post
//! one after another (its funds lock).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use diesel::prelude::*;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use uuid::Uuid;

use super::super::BillingError;
use super::super::guard::Guard;
use super::super::prices::PriceBook;
use super::super::usage::{Outcome, UsageEvent};
use super::posting::{UsageDebit, Writer};
use super::rows::{RatingRow, UsageRow};
use super::{prices, quota_feed, rating};
use crate::base::config::BillingSettings;
use crate::base::db::Db;

/// Most events one ingest call may carry.
pub const MAX_BATCH: usize = 1000;

/// What each organization owes for a group, while it is being written.
pub(super) type OrgDebits = HashMap<Uuid, Decimal>;

/// What each organization was charged by a group: (organization, journal, amount).
pub(super) type Debits = Vec<(Uuid, Uuid, Decimal)>;

type Reply = oneshot::Sender<Result<Vec<Outcome>, BillingError>>;

/// What a group writes in its transaction: each event's outcome, and the debits to
/// register with the spend guard before the commit.
pub(super) type WriteGroup = Arc<
    dyn Fn(&mut PgConnection, &[UsageEvent]) -> Result<(Vec<Outcome>, Debits), BillingError>
        + Send
        + Sync,
>;

/// One caller's checked events waiting for a group.
struct Job {
    events: Vec<UsageEvent>,
    reply: Reply,
}

/// How groups are written, and who hears that one committed.
#[derive(Clone)]
struct Groups {
    db: Db,
    guard: Guard,
    write: WriteGroup,
    committed: Option<Arc<Notify>>,
}

/// The handle callers submit to; the group loop runs on a task of its own.
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the group loop, with up to `writers` groups in flight: each group runs `write`
    /// in one transaction, then wakes `committed` (if any).
    pub fn start(
        db: Db,
        guard: Guard,
        (settings, writers): (&BillingSettings, usize),
        write: WriteGroup,
        committed: Option<Arc<Notify>>,
    ) -> Committer {
        let (jobs, queue) = mpsc::channel(4096);
        let limits = (settings.group_max_events, writers);
        let groups = Groups {
            db,
            guard,
            write,
            committed,
        };
        tokio::spawn(run_groups(queue, groups, limits));
        Committer { jobs }
    }

    /// Writes `events` in the next group; one outcome each (accepted or duplicate).
    pub(super) async fn submit(
        &self,
        events: Vec<UsageEvent>,
    ) -> Result<Vec<Outcome>, BillingError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { events, reply })
            .await
            .map_err(|_| BillingError::Unavailable("the group committer has stopped".into()))?;
        answer
            .await
            .map_err(|_| BillingError::Unavailable("the group commit was abandoned".into()))?
    }
}

async fn run_groups(
    mut queue: mpsc::Receiver<Job>,
    groups: Groups,
    (max, writers): (usize, usize),
) {
    let writers = Arc::new(Semaphore::new(writers));
    loop {
        // A free writer first: while none is, callers queue up for a larger group.
        let Ok(permit) = Arc::clone(&writers).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut size = first.events.len();
        let mut group = vec![first];
        while size < max {
            match queue.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let groups = groups.clone();
        tokio::spawn(async move {
            commit_group(&groups, group).await;
            drop(permit);
        });
    }
}

/// Writes one group and answers each of its callers.
async fn commit_group(groups: &Groups, group: Vec<Job>) {
    let (events, replies): (Vec<Vec<UsageEvent>>, Vec<Reply>) =
        group.into_iter().map(|job| (job.events, job.reply)).unzip();
    let sizes: Vec<usize> = events.iter().map(Vec::len).collect();
    let all: Vec<UsageEvent> = events.into_iter().flatten().collect();
    let (guard, write) = (groups.guard.clone(), Arc::clone(&groups.write));
    let result = groups
        .db
        .run(move |conn| committing(conn, &guard, |conn| write(conn, &all)))
        .await;
    match result {
        Ok(outcomes) => {
            if let Some(committed) = &groups.committed {
                committed.notify_one();
            }
            let mut outcomes = outcomes.into_iter();
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
            }
        }
        Err(err) => {
            log::error!(
                "billing: a usage group of {} events failed: {err}",
                sizes.iter().sum::<usize>()
            );
            let detail = err.to_string();
            for reply in replies {
                let _ = reply.send(Err(BillingError::Unavailable(detail.clone())));
            }
        }
    }
}

/// Runs `work` in a transaction, registering the debits it posted with the spend guard
/// before the commit (see the module doc of `guard`) and withdrawing them if it fails.
pub(super) fn committing<T>(
    conn: &mut PgConnection,
    guard: &Guard,
    work: impl FnOnce(&mut PgConnection) -> Result<(T, Debits), BillingError>,
) -> Result<T, BillingError> {
    let mut registered: Debits = Vec::new();
    let done = conn.transaction(|conn| {
        let (value, debits) = work(conn)?;
        guard.spent(&debits);
        registered = debits;
        Ok::<_, BillingError>(value)
    });
    if done.is_err() {
        guard.unspent(&registered);
    }
    done
}

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
pub(super) struct Captured {
    /// Its batch.
    pub batch: Uuid,
    /// When.
    pub at: OffsetDateTime,
    /// The indexes of the events inserted (the rest are duplicates), ascending.
    pub indexes: Vec<usize>,
    /// Each event's new usage id (used only where inserted).
    pub ids: Vec<Uuid>,
    /// What it added to the quota feed's totals (announced by whoever posts it).
    pub added: quota_feed::Added,
}

impl Captured {
    /// Accepted for the events inserted, duplicate for the rest.
    pub fn outcomes(&self, count: usize) -> Vec<Outcome> {
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
pub(super) fn capture_new(
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
fn first_of_each(events: &[UsageEvent]) -> (Vec<usize>, Vec<Uuid>) {
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

fn usage_row(event: &UsageEvent, id: Uuid, batch: Uuid, now: OffsetDateTime) -> UsageRow<'_> {
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
