//! The poster: rates and posts captured usage (see `capture`) in batches, off every request
//! path. It runs in each process, woken by its own captures and sweeping every
//! `SWEEP` for captures a stopped process left behind; processes share the queue, each
//! claiming captures the others have not (`FOR UPDATE SKIP LOCKED`). A capture is posted
//! whole, in one transaction: its usage rated at the prices in effect when it occurred,
//! one journal transaction under the capture's journal id, the capture marked posted, and
//! one `usage_recorded` announcement for the round.

mod prune;
mod round;

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use tokio::sync::Notify;
use uuid::Uuid;

use super::super::BillingError;
use super::super::schema::usage_captures;
use super::posting::Writer;
use crate::base::db::Db;

/// How often a poster looks for captures nobody woke it for.
const SWEEP: Duration = Duration::from_secs(1);
/// How long a woken poster lets captures gather before it posts them: under load, one
/// posting round then carries many captures instead of one each.
const LINGER: Duration = Duration::from_millis(20);

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
        if pruned.is_none_or(|at| at.elapsed() >= prune::PRUNE_EVERY) {
            pruned = Some(std::time::Instant::now());
            prune::prune_all(&db, &writer).await;
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
            Ok(n) if n as i64 == round::MAX_CAPTURES => {}
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
    db.run(move |conn| conn.transaction(|conn| round::post_waiting(conn, &writer, only)))
        .await
}

/// Posts each waiting capture in a transaction of its own; one that fails is counted, and
/// after `MAX_FAILURES` left waiting for an operator.
async fn one_by_one(db: &Db, writer: &Writer) {
    let waiting = db
        .run(|conn| -> Result<Vec<Uuid>, BillingError> {
            Ok(usage_captures::table
                .filter(usage_captures::posted_at.is_null())
                .filter(usage_captures::failures.lt(round::MAX_FAILURES))
                .order(usage_captures::captured_at)
                .limit(round::MAX_CAPTURES)
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
