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
use diesel::sql_types::{Array, BigInt, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use tokio::sync::Notify;
use uuid::Uuid;

use super::super::BillingError;
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

/// Posts whatever waits whenever woken (or every `SWEEP`), until the process ends.
pub async fn run(db: Db, writer: Writer, wake: Arc<Notify>) {
    // The first round prunes too: a process just started may be the only one.
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            () = wake.notified() => tokio::time::sleep(LINGER).await,
            () = tokio::time::sleep(SWEEP) => {}
        }
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(std::time::Instant::now());
            let now = writer.clock.now();
            let deleted = db
                .run(move |conn| -> Result<usize, BillingError> { Ok(prune(conn, now)?) })
                .await;
            if let Err(err) = deleted {
                log::warn!("billing: posted captures not pruned (tried again later): {err}");
            }
        }
        loop {
            let writer = writer.clone();
            let posted = db
                .run(move |conn| conn.transaction(|conn| post_waiting(conn, &writer)))
                .await;
            match posted {
                // A full round leaves more behind; anything less took all there was.
                Ok(n) if n as i64 == MAX_CAPTURES => {}
                Ok(_) => break,
                Err(err) => {
                    log::error!("billing: captured usage not posted (retried shortly): {err}");
                    break;
                }
            }
        }
    }
}

/// Claims, rates and posts up to `MAX_CAPTURES` waiting captures; returns how many.
pub fn post_waiting(conn: &mut PgConnection, writer: &Writer) -> Result<usize, BillingError> {
    let now = writer.clock.now();
    let claimed: Vec<Claimed> = diesel::sql_query(
        "UPDATE billing.usage_captures SET posted_at = $1 WHERE journal_id IN ( \
           SELECT journal_id FROM billing.usage_captures WHERE posted_at IS NULL \
           ORDER BY captured_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING journal_id, batch_id, organization_id",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(MAX_CAPTURES)
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
    // The totals were added at capture; this tells the feed's readers, once per round.
    quota_feed::announce(conn, writer, Uuid::now_v7(), &added)?;
    Ok(claimed.len())
}

/// Deletes captures posted more than `KEEP_POSTED` before `now`, oldest first (journal ids
/// are UUIDv7, so the key orders them by capture time).
fn prune(conn: &mut PgConnection, now: time::OffsetDateTime) -> QueryResult<usize> {
    let cutoff = now - KEEP_POSTED;
    diesel::sql_query(
        "DELETE FROM billing.usage_captures WHERE journal_id IN ( \
           SELECT journal_id FROM billing.usage_captures \
           WHERE posted_at IS NOT NULL AND posted_at < $1 ORDER BY journal_id LIMIT $2)",
    )
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
         FROM billing.usage_events WHERE batch_id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(batches)
    .load(conn)
}
