//! Analytics off the request path: requests queue a record each (never waiting), a writer
//! task stores them in batches with the hourly and daily roll-ups they add to, in one
//! transaction per batch, which also announces the batch's metered requests
//! (`token_factory.usage.recorded`, at most 200 a message). A full queue drops records
//! (counted and logged), never requests.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::super::schema::rollups;
use super::request_rows::big;
use crate::base::db::{Db, DbError};
use crate::platform::events::{Events, Message};

/// Records waiting at most.
const QUEUE: usize = 65_536;
/// Records one batch writes at most.
const BATCH: usize = 2_000;

/// One answered request.
#[derive(Debug, Clone)]
pub struct Record {
    /// The gateway's request id.
    pub request_id: String,
    /// When it ended.
    pub occurred_at: OffsetDateTime,
    /// Organization.
    pub organization_id: Uuid,
    /// Department.
    pub department_id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// Key prefix.
    pub key_prefix: String,
    /// Route path.
    pub route: &'static str,
    /// Model asked for.
    pub model: Arc<str>,
    /// `model/endpoint` that served.
    pub endpoint: Option<String>,
    /// Status the client saw.
    pub status: u16,
    /// Error code the client saw.
    pub error_code: Option<&'static str>,
    /// Streamed.
    pub stream: bool,
    /// Input tokens billed.
    pub input_tokens: u64,
    /// Output tokens billed.
    pub output_tokens: u64,
    /// Billed from the gateway's count (no upstream report).
    pub estimated: bool,
    /// The upstream's report.
    pub reported: Option<(u64, u64)>,
    /// The gateway's count (input, output).
    pub counted: (u64, u64),
    /// Total latency.
    pub latency_us: i64,
    /// Latency not spent waiting on the upstream.
    pub overhead_us: i64,
    /// Time to the first token (streams).
    pub first_token_us: Option<i64>,
    /// Its usage was committed to billing.
    pub metered: bool,
}

/// Where requests put their records.
#[derive(Clone)]
pub struct Sink {
    queue: mpsc::Sender<Record>,
    dropped: Arc<AtomicU64>,
}

impl Sink {
    /// Queues `record`; drops it when the writer is too far behind.
    pub fn record(&self, record: Record) {
        if self.queue.try_send(record).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                log::warn!("{n} analytics records dropped: the writer is behind");
            }
        }
    }
}

/// A sink and its writer task, which flushes every `every` or at each full batch.
pub fn start(db: Db, events: Arc<dyn Events>, every: Duration) -> Sink {
    let (queue, received) = mpsc::channel(QUEUE);
    tokio::spawn(write(db, events, received, every));
    Sink {
        queue,
        dropped: Arc::new(AtomicU64::new(0)),
    }
}

async fn write(
    db: Db,
    events: Arc<dyn Events>,
    mut received: mpsc::Receiver<Record>,
    every: Duration,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let got = received.recv_many(&mut batch, BATCH).await;
        if got == 0 {
            return;
        }
        let records = std::mem::take(&mut batch);
        let n = records.len();
        let events = Arc::clone(&events);
        if let Err(err) = db
            .run(move |conn| store(conn, events.as_ref(), &records))
            .await
        {
            log::warn!("{n} analytics records not written: {err}");
        }
        if n < BATCH {
            tokio::time::sleep(every).await;
        }
    }
}

fn store(conn: &mut PgConnection, events: &dyn Events, records: &[Record]) -> Result<(), DbError> {
    conn.transaction(|conn| {
        announce(conn, events, records)?;
        super::request_rows::insert(conn, records)?;
        roll_up(conn, records)
    })
}

/// Most requests one `token_factory.usage.recorded` message names.
const PER_MESSAGE: usize = 200;

/// Announces the batch's metered requests, in the batch's transaction.
fn announce(
    conn: &mut PgConnection,
    events: &dyn Events,
    records: &[Record],
) -> Result<(), DbError> {
    let metered: Vec<&Record> = records.iter().filter(|r| r.metered).collect();
    for chunk in metered.chunks(PER_MESSAGE) {
        let requests: Vec<serde_json::Value> = chunk
            .iter()
            .map(|r| {
                serde_json::json!({
                    "request_id": r.request_id, "organization_id": r.organization_id,
                    "department_id": r.department_id, "project_id": r.project_id,
                    "api_key": r.key_prefix, "model": r.model.as_ref(), "endpoint": r.endpoint,
                    "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                    "estimated": r.estimated, "status": r.status, "latency_us": r.latency_us,
                })
            })
            .collect();
        let message = Message::new(USAGE_RECORDED, serde_json::json!({ "requests": requests }));
        events
            .publish_in(conn, message)
            .map_err(|err| DbError::Refused(format!("announcing {USAGE_RECORDED}: {err}")))?;
    }
    Ok(())
}

/// The subject the packet declares for metered requests.
const USAGE_RECORDED: &str = "token_factory.usage.recorded";

/// (granularity, bucket start, organization, project, model, key).
type BucketKey = (&'static str, OffsetDateTime, Uuid, Uuid, String, String);

#[derive(Default)]
struct Sums {
    requests: i64,
    errors: i64,
    input: i64,
    output: i64,
    latency: i64,
    overhead: i64,
}

/// Adds a batch to its hour and day buckets.
fn roll_up(conn: &mut PgConnection, records: &[Record]) -> Result<(), DbError> {
    use diesel::upsert::excluded;
    let mut buckets: HashMap<BucketKey, Sums> = HashMap::new();
    for r in records {
        for (granularity, start) in [
            ("hour", hour_of(r.occurred_at)),
            ("day", day_of(r.occurred_at)),
        ] {
            let key = (
                granularity,
                start,
                r.organization_id,
                r.project_id,
                r.model.to_string(),
                r.key_prefix.clone(),
            );
            let sums = buckets.entry(key).or_default();
            sums.requests += 1;
            sums.errors += i64::from(r.status >= 400);
            sums.input = sums.input.saturating_add(big(r.input_tokens));
            sums.output = sums.output.saturating_add(big(r.output_tokens));
            sums.latency = sums.latency.saturating_add(r.latency_us);
            sums.overhead = sums.overhead.saturating_add(r.overhead_us);
        }
    }
    for ((granularity, start, org, project, model, key), s) in buckets {
        diesel::insert_into(rollups::table)
            .values((
                rollups::granularity.eq(granularity),
                rollups::bucket_start.eq(start),
                rollups::organization_id.eq(org),
                rollups::project_id.eq(project),
                rollups::model.eq(model),
                rollups::key_prefix.eq(key),
                rollups::requests.eq(s.requests),
                rollups::errors.eq(s.errors),
                rollups::input_tokens.eq(s.input),
                rollups::output_tokens.eq(s.output),
                rollups::latency_us_sum.eq(s.latency),
                rollups::overhead_us_sum.eq(s.overhead),
            ))
            .on_conflict((
                rollups::granularity,
                rollups::bucket_start,
                rollups::organization_id,
                rollups::project_id,
                rollups::model,
                rollups::key_prefix,
            ))
            .do_update()
            .set((
                rollups::requests.eq(rollups::requests + excluded(rollups::requests)),
                rollups::errors.eq(rollups::errors + excluded(rollups::errors)),
                rollups::input_tokens.eq(rollups::input_tokens + excluded(rollups::input_tokens)),
                rollups::output_tokens
                    .eq(rollups::output_tokens + excluded(rollups::output_tokens)),
                rollups::latency_us_sum
                    .eq(rollups::latency_us_sum + excluded(rollups::latency_us_sum)),
                rollups::overhead_us_sum
                    .eq(rollups::overhead_us_sum + excluded(rollups::overhead_us_sum)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn hour_of(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(at)
}

fn day_of(at: OffsetDateTime) -> OffsetDateTime {
    hour_of(at).replace_hour(0).unwrap_or(at)
}
