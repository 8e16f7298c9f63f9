//! The relay: fans new outbox rows out to subscribed consumers, then delivers due
//! deliveries to this process's consumers under a lease, retrying with exponential backoff
//! and parking deliveries that exhaust their attempts as dead letters.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Integer, Text};
use uuid::Uuid;

use super::super::schema::{consumers, dead_letters, outbox};
use super::super::{Consumer, Envelope, EventsError, subjects};
use super::rows::OutboxRow;
use super::{CHANNEL, Inner};
use crate::base::db::listen::{self, Next};

const FAN_OUT_BATCH: i64 = 200;
const DELIVERY_BATCH: i64 = 50;
/// How long a stop waits for the round in progress.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Starts the relay task and its LISTEN thread, once.
pub(super) fn start(inner: &Arc<Inner>) {
    if inner.relay_started.swap(true, Ordering::SeqCst) {
        return;
    }
    let weak = Arc::downgrade(inner);
    let listener = Weak::clone(&weak);
    let owner = Weak::clone(&weak);
    listen::spawn(
        "events-listener",
        inner.url.clone(),
        CHANNEL,
        Duration::from_millis(50),
        move || owner.upgrade().is_some_and(|i| !i.stopping()),
        move |_, notified| {
            let Some(inner) = listener.upgrade().filter(|i| !i.stopping()) else {
                return Ok(Next::Stop);
            };
            if notified {
                inner.wake.notify_one();
            }
            Ok(Next::Continue)
        },
    );
    let task = tokio::spawn(run(weak));
    if let Ok(mut slot) = inner.relay_task.lock() {
        *slot = Some(task);
    }
}

/// Stops the relay task and waits for its current round, at most `STOP_WAIT`. Other
/// holders of `Inner` (IAM announces on the outbox) may keep it alive, so dropping the
/// platform alone would not stop delivering.
pub(super) async fn stop(inner: &Arc<Inner>) {
    inner.relay_stopping.store(true, Ordering::SeqCst);
    inner.wake.notify_one();
    let task = inner
        .relay_task
        .lock()
        .ok()
        .and_then(|mut slot| slot.take());
    let Some(mut task) = task else { return };
    match tokio::time::timeout(STOP_WAIT, &mut task).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => log::warn!("events relay ended abnormally: {err}"),
        Err(_) => {
            // A slow consumer must not hold up shutdown: its leased deliveries are retried
            // by the next process once their lease runs out (at-least-once).
            log::warn!("events relay still busy after {STOP_WAIT:?}; stopping it mid-round");
            task.abort();
        }
    }
}

async fn run(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade().filter(|i| !i.stopping()) else {
            return;
        };
        let worked = match inner.tick().await {
            Ok(worked) => worked,
            Err(err) => {
                log::warn!("events relay: {err}");
                false
            }
        };
        if !worked {
            let poll = Duration::from_millis(inner.settings.poll_ms);
            tokio::select! {
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    event_seq: i64,
    #[diesel(sql_type = Text)]
    consumer: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

impl Inner {
    fn stopping(&self) -> bool {
        self.relay_stopping.load(Ordering::SeqCst)
    }

    /// One round: fan out, then deliver. Whether there was anything to do.
    pub(super) async fn tick(self: &Arc<Self>) -> Result<bool, EventsError> {
        let fanned = self.db.run(fan_out).await?;
        let local: Vec<String> = self
            .consumers
            .read()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        if local.is_empty() {
            return Ok(fanned > 0);
        }
        let lease = self.settings.lease_secs as f64;
        let claimed = self.db.run(move |conn| claim(conn, &local, lease)).await?;
        let delivered = claimed.len();
        let seqs: Vec<i64> = claimed.iter().map(|c| c.event_seq).collect();
        let envelopes = self.db.run(move |conn| load(conn, &seqs)).await?;
        let mut outcomes = Vec::with_capacity(claimed.len());
        for delivery in claimed {
            let outcome = self.deliver(&delivery, &envelopes).await;
            outcomes.push((delivery, outcome));
        }
        let inner = Arc::clone(self);
        self.db
            .run(move |conn| inner.record_all(conn, outcomes))
            .await?;
        Ok(fanned > 0 || delivered > 0)
    }

    /// Acknowledges the batch's successes in one statement, then records each failure.
    fn record_all(
        &self,
        conn: &mut PgConnection,
        outcomes: Vec<(Claimed, Result<(), String>)>,
    ) -> Result<(), EventsError> {
        let (done, failed): (Vec<_>, Vec<_>) = outcomes
            .into_iter()
            .partition(|(_, outcome)| outcome.is_ok());
        if !done.is_empty() {
            let seqs: Vec<i64> = done.iter().map(|(d, _)| d.event_seq).collect();
            let names: Vec<String> = done.iter().map(|(d, _)| d.consumer.clone()).collect();
            diesel::sql_query(
                "UPDATE events.deliveries d SET status = 'delivered', delivered_at = now(), leased_until = NULL \
                 FROM unnest($1::bigint[], $2::text[]) AS done(event_seq, consumer) \
                 WHERE d.event_seq = done.event_seq AND d.consumer = done.consumer",
            )
            .bind::<Array<BigInt>, _>(&seqs)
            .bind::<Array<Text>, _>(&names)
            .execute(conn)?;
        }
        for (delivery, outcome) in failed {
            if let Err(error) = outcome {
                self.record_failure(conn, &delivery, error)?;
            }
        }
        Ok(())
    }

    /// Hands one delivery to its consumer, bounded by the lease.
    async fn deliver(
        &self,
        delivery: &Claimed,
        envelopes: &HashMap<i64, Envelope>,
    ) -> Result<(), String> {
        let consumer: Option<Arc<dyn Consumer>> = self
            .consumers
            .read()
            .ok()
            .and_then(|c| c.get(&delivery.consumer).cloned());
        match (consumer, envelopes.get(&delivery.event_seq)) {
            (Some(consumer), Some(envelope)) => {
                let lease = Duration::from_secs(self.settings.lease_secs);
                match tokio::time::timeout(lease, consumer.handle(envelope)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within the {}s lease", lease.as_secs())),
                }
            }
            _ => Err("consumer or event vanished".into()),
        }
    }

    fn backoff_secs(&self, attempts: i32) -> f64 {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(20);
        let millis = self
            .settings
            .retry_base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.settings.retry_max_ms);
        millis as f64 / 1000.0
    }

    /// Schedules a retry with backoff, or parks the delivery as a dead letter.
    fn record_failure(
        &self,
        conn: &mut PgConnection,
        d: &Claimed,
        error: String,
    ) -> Result<(), EventsError> {
        let now = self.clock.now();
        let dead = d.attempts >= self.settings.max_attempts;
        conn.transaction(|conn| {
            diesel::sql_query(
                "UPDATE events.deliveries SET leased_until = NULL, last_error = $3, status = $4, \
                 next_attempt_at = now() + make_interval(secs => $5) WHERE event_seq = $1 AND consumer = $2",
            )
            .bind::<BigInt, _>(d.event_seq)
            .bind::<Text, _>(&d.consumer)
            .bind::<Text, _>(&error)
            .bind::<Text, _>(if dead { "dead" } else { "pending" })
            .bind::<Double, _>(self.backoff_secs(d.attempts))
            .execute(conn)?;
            if dead {
                log::warn!("events: {} gave up on event {} after {} attempts: {error}", d.consumer, d.event_seq, d.attempts);
                diesel::insert_into(dead_letters::table)
                    .values((
                        dead_letters::id.eq(Uuid::now_v7()),
                        dead_letters::event_seq.eq(d.event_seq),
                        dead_letters::consumer.eq(&d.consumer),
                        dead_letters::attempts.eq(d.attempts),
                        dead_letters::error.eq(&error),
                        dead_letters::dead_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }
}

/// Creates a pending delivery per matching consumer for outbox rows not yet fanned out.
fn fan_out(conn: &mut PgConnection) -> Result<usize, EventsError> {
    conn.transaction(|conn| {
        let rows: Vec<(i64, String)> = outbox::table
            .filter(outbox::fanned_out.eq(false))
            .order(outbox::seq)
            .limit(FAN_OUT_BATCH)
            .select((outbox::seq, outbox::event_type))
            .for_update()
            .skip_locked()
            .load(conn)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let registered: Vec<(String, Vec<String>)> = consumers::table.select((consumers::name, consumers::subjects)).load(conn)?;
        for (seq, event_type) in &rows {
            for (name, patterns) in &registered {
                if patterns.iter().any(|p| subjects::matches(p, event_type)) {
                    diesel::sql_query(
                        "INSERT INTO events.deliveries (event_seq, consumer, status, next_attempt_at) \
                         VALUES ($1, $2, 'pending', now()) ON CONFLICT DO NOTHING",
                    )
                    .bind::<BigInt, _>(seq)
                    .bind::<Text, _>(name)
                    .execute(conn)?;
                }
            }
        }
        let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
        diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs))).set(outbox::fanned_out.eq(true)).execute(conn)?;
        Ok(rows.len())
    })
}

/// Leases due deliveries of `local` consumers; another process skips what this one holds.
fn claim(
    conn: &mut PgConnection,
    local: &[String],
    lease_secs: f64,
) -> Result<Vec<Claimed>, EventsError> {
    Ok(diesel::sql_query(
        "UPDATE events.deliveries d SET leased_until = now() + make_interval(secs => $1), attempts = d.attempts + 1 \
         FROM (SELECT event_seq, consumer FROM events.deliveries \
               WHERE status = 'pending' AND next_attempt_at <= now() \
                 AND (leased_until IS NULL OR leased_until < now()) AND consumer = ANY($2) \
               ORDER BY next_attempt_at, event_seq LIMIT $3 FOR UPDATE SKIP LOCKED) due \
         WHERE d.event_seq = due.event_seq AND d.consumer = due.consumer \
         RETURNING d.event_seq, d.consumer, d.attempts",
    )
    .bind::<Double, _>(lease_secs)
    .bind::<Array<Text>, _>(local)
    .bind::<BigInt, _>(DELIVERY_BATCH)
    .load(conn)?)
}

fn load(conn: &mut PgConnection, seqs: &[i64]) -> Result<HashMap<i64, Envelope>, EventsError> {
    let rows: Vec<OutboxRow> = outbox::table
        .filter(outbox::seq.eq_any(seqs))
        .select(OutboxRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.seq, r.envelope())).collect())
}
