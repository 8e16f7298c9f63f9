//! Pruning: a posted capture is queue state, not the record (the usage, its ratings and
//! journal are), so it is deleted an hour after posting.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::super::super::BillingError;
use super::super::posting::Writer;
use crate::base::db::Db;

/// How long a posted capture is kept: a process's funds load may still need to see it
/// posted (a capture that cost nothing has no journal transaction that would tell it).
const KEEP_POSTED: Duration = Duration::from_secs(3600);
/// How often posted captures past `KEEP_POSTED` are deleted.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// At most how many one statement deletes.
const PRUNE_MAX: i64 = 50_000;

/// Deletes the captures posted more than `KEEP_POSTED` ago, a chunk at a time.
pub async fn prune_all(db: &Db, writer: &Writer) {
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
