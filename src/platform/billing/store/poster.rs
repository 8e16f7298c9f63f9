//! The poster: rates and posts captured usage (see `capture`) in batches, off every request
//! path. It runs in each process, woken by its own captures and sweeping every
//! `SWEEP` for captures a stopped process left behind; processes share the queue, each
//! claiming captures the others have not (`FOR UPDATE SKIP LOCKED`). A capture is posted
//! whole, in one transaction: its usage rated at the prices in effect when it occurred,
//! one journal transaction under the capture's journal id, the capture marked posted, and
//! one `usage_recorded` announcement for the round.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use tokio::sync::Notify;
use uuid::Uuid;

use super::super::BillingError;
use super::super::schema::usage_captures;
use super::posting::{UsageDebit, Writer};
use super::quota_feed::{self, Added};
use super::rating::{self, UsageFact};
use crate::base::db::Db;

/// How often a poster looks for captures nobody woke it for.
const SWEEP: Duration = Duration::from_secs(1);
/// How long a woken poster lets captures gather before it posts them: under load, one
/// posting round then carries many captures instead of one each.
const LINGER: Duration = Duration::from_millis(20);
/// Most captures one transaction posts; a busier queue takes several in a row.
const MAX_CAPTURES: i64 = 2000;
/// How long a posted capture is kept: a process's funds load may still need to see it
/// posted (a capture that cost nothing has no journal transaction that would tell it).
const KEEP_POSTED: Duration = Duration::from_secs(3600);
/// How often posted captures past `KEEP_POSTED` are deleted, and at most how many at once.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_MAX: i64 = 50_000;
/// Failed rounds of its own after which a capture is left waiting for an operator.
const MAX_FAILURES: i32 = 3;

/// A captured event with whom it is counted for in the quota feed.
#[derive(QueryableByName)]
struct Waiting {
    #[diesel(embed)]
    fact: UsageFact,
    #[diesel(sql_type = SqlUuid)]
    project_id: Uuid,
    #[diesel(sql_type = Text)]
    actor_kind: String,
    #[diesel(sql_type = Text)]
    actor_id: String,
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    journal_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    batch_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
}

/// Runs the poster, starting it again if it panics (a process whose poster stopped would
/// leave its captures to the other processes' sweeps, or to nobody).
pub async fn supervise(db: Db, writer: Writer, wake: Arc<Notify>) {
    loop {
        let poster = tokio::spawn(run(db.clone(), writer.clone(), Arc::clone(&wake)));
        match poster.await {
            Err(err) if err.is_panic() => {
                log::error!("billing: the poster panicked; starting it again: {err}");
                tokio::time::sleep(SWEEP).await;
            }
            _ => return,
        }
    }
}

/// Posts whatever waits whenever woken (or every `SWEEP`), until the process ends.
async fn run(db: Db, writer: Writer, wake: Arc<Notify>) {
    // The first round prunes too: a process just started may be the only one.
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            () = wake.notified() => tokio::time::sleep(LINGER).await,
            () = tokio::time::sleep(SWEEP) => {}
        }
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(std::time::Instant::now());
            prune_all(&db, &writer).await;
        }
        post_all(&db, &writer).await;
    }
}

/// Posts rounds until one is not full. A round that fails is posted again capture by
/// capture, so a capture that cannot be posted holds up only itself.
async fn post_all(db: &Db, writer: &Writer) {
    loop {
        match round(db, writer, None).await {
            // A full round leaves more behind; anything less took all there was.
            Ok(n) if n as i64 == MAX_CAPTURES => {}
            Ok(_) => return,
            Err(err) => {
                log::warn!(
                    "billing: a posting round failed; posting its captures one by one: {err}"
                );
                one_by_one(db, writer).await;
                return;
            }
        }
    }
}

/// One posting round in one transaction: every waiting capture (up to `MAX_CAPTURES`), or
/// only capture `only`.
async fn round(db: &Db, writer: &Writer, only: Option<Uuid>) -> Result<usize, BillingError> {
    let writer = writer.clone();
    db.run(move |conn| conn.transaction(|conn| post_waiting(conn, &writer, only)))
        .await
}

/// Posts each waiting capture in a transaction of its own; one that fails is counted, and
/// after `MAX_FAILURES` left waiting for an operator.
async fn one_by_one(db: &Db, writer: &Writer) {
    let waiting = db
        .run(|conn| -> Result<Vec<Uuid>, BillingError> {
            Ok(usage_captures::table
                .filter(usage_captures::posted_at.is_null())
                .filter(usage_captures::failures.lt(MAX_FAILURES))
                .order(usage_captures::captured_at)
                .limit(MAX_CAPTURES)
                .select(usage_captures::journal_id)
                .load(conn)?)
        })
        .await;
    for journal in waiting.unwrap_or_default() {
        if let Err(err) = round(db, writer, Some(journal)).await {
            log::error!("billing: capture {journal} could not be posted: {err}");
            let failed = db
                .run(move |conn| -> Result<usize, BillingError> {
                    Ok(diesel::update(usage_captures::table.find(journal))
                        .set(usage_captures::failures.eq(usage_captures::failures + 1))
                        .execute(conn)?)
                })
                .await;
            if let Err(err) = failed {
                log::error!("billing: capture {journal}'s failure not counted: {err}");
            }
        }
    }
}

/// Claims, rates and posts up to `MAX_CAPTURES` waiting captures (or only `only`); returns
/// how many.
fn post_waiting(
    conn: &mut PgConnection,
    writer: &Writer,
    only: Option<Uuid>,
) -> Result<usize, BillingError> {
    let now = writer.clock.now();
    let claimed: Vec<Claimed> = diesel::sql_query(
        "UPDATE billing.usage_captures SET posted_at = $1 WHERE journal_id IN ( \
           SELECT journal_id FROM billing.usage_captures \
           WHERE posted_at IS NULL AND failures < $3 AND ($4::uuid IS NULL OR journal_id = $4) \
           ORDER BY captured_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING journal_id, batch_id, organization_id",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(MAX_CAPTURES)
    .bind::<Int4, _>(MAX_FAILURES)
    .bind::<Nullable<SqlUuid>, _>(only)
    .load(conn)?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let journals: HashMap<(Uuid, Uuid), Uuid> = claimed
        .iter()
        .map(|c| ((c.batch_id, c.organization_id), c.journal_id))
        .collect();
    let usage: Vec<Waiting> = usage_of(conn, &claimed)?
        .into_iter()
        .filter(|w| journals.contains_key(&(w.fact.batch_id, w.fact.organization_id)))
        .collect();
    let facts: Vec<&UsageFact> = usage.iter().map(|w| &w.fact).collect();
    let book = rating::book_for(conn, &facts)?;
    let (mut ratings, mut owed) = (Vec::new(), HashMap::<Uuid, Decimal>::new());
    let mut added = Added::default();
    for w in &usage {
        let u = &w.fact;
        let actor = (w.actor_kind.as_str(), w.actor_id.as_str());
        added.add(
            u.organization_id,
            w.project_id,
            actor,
            &u.unit,
            u.occurred_at,
            u.quantity,
        );
        let journal = journals[&(u.batch_id, u.organization_id)];
        if let Some(mut row) = rating::rate(&book, u.id, u.fact(&writer.currency), now) {
            if row.amount_minor > Decimal::ZERO {
                *owed.entry(journal).or_default() += row.amount_minor;
                row.journal_id = Some(journal);
            }
            ratings.push(row);
        }
    }
    let debits: Vec<UsageDebit> = claimed
        .iter()
        .filter_map(|c| {
            owed.get(&c.journal_id).map(|amount| UsageDebit {
                journal: c.journal_id,
                organization: c.organization_id,
                batch: c.batch_id,
                amount: *amount,
            })
        })
        .collect();
    writer.post_usage(conn, &debits)?;
    super::bulk::insert_ratings(conn, &ratings)?;
    // Also when nothing was charged: the spend guards counting these captures learn from
    // the funds reload that they are posted.
    super::notify_funds(conn)?;
    // The totals were added at capture; this tells the feed's readers, once per round.
    quota_feed::announce(conn, writer, Uuid::now_v7(), &added)?;
    Ok(claimed.len())
}

/// Deletes the captures posted more than `KEEP_POSTED` ago, a chunk at a time.
async fn prune_all(db: &Db, writer: &Writer) {
    let now = writer.clock.now();
    loop {
        let deleted = db
            .run(move |conn| -> Result<usize, BillingError> { Ok(prune(conn, now)?) })
            .await;
        match deleted {
            Ok(n) if n as i64 == PRUNE_MAX => {}
            Ok(_) => return,
            Err(err) => {
                log::warn!("billing: posted captures not pruned (tried again later): {err}");
                return;
            }
        }
    }
}

/// Deletes up to `PRUNE_MAX` captures posted more than `KEEP_POSTED` before `now`, oldest
/// first. Journal ids are UUIDv7, so the key's order is capture time: the scan walks the
/// primary key from its start and stops at the cutoff.
fn prune(conn: &mut PgConnection, now: time::OffsetDateTime) -> QueryResult<usize> {
    let cutoff = now - KEEP_POSTED;
    let millis = u128::try_from(cutoff.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let first_at_cutoff = Uuid::from_u128(millis << 80);
    diesel::sql_query(
        "DELETE FROM billing.usage_captures WHERE journal_id IN ( \
           SELECT journal_id FROM billing.usage_captures \
           WHERE journal_id < $1 AND posted_at IS NOT NULL AND posted_at < $2 \
           ORDER BY journal_id LIMIT $3)",
    )
    .bind::<SqlUuid, _>(first_at_cutoff)
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(PRUNE_MAX)
    .execute(conn)
}

/// The usage of the claimed captures' batches (of any organization; the caller keeps the
/// claimed ones).
fn usage_of(conn: &mut PgConnection, claimed: &[Claimed]) -> QueryResult<Vec<Waiting>> {
    let batches: Vec<Uuid> = claimed
        .iter()
        .map(|c| c.batch_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    diesel::sql_query(
        "SELECT id, product, unit, resource_type, resource_id, quantity, occurred_at, \
                organization_id, batch_id, project_id, actor_kind, actor_id \
         FROM billing.usage_events u WHERE batch_id = ANY($1) \
           AND NOT EXISTS (SELECT 1 FROM billing.ratings r WHERE r.usage_id = u.id)",
    )
    .bind::<Array<SqlUuid>, _>(batches)
    .load(conn)
}
