//! When each API key was last used: noted in memory on every successful authentication and
//! written in batches, one UPDATE per flush, so a request never writes to the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz};
use time::OffsetDateTime;

use super::super::Keys;

/// Sets each listed key's `last_used_at`, never moving it backwards (another process may
/// have written a later use); rows already as recent are left alone, so they are not
/// rewritten.
const WRITE: &str = "UPDATE iam.api_keys k SET last_used_at = v.at \
     FROM unnest($1::text[], $2::timestamptz[]) AS v(prefix, at) \
     WHERE k.prefix = v.prefix AND (k.last_used_at IS NULL OR k.last_used_at < v.at)";

/// Uses not yet written: the latest time per key prefix.
#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<String, OffsetDateTime>>,
}

impl LastUsed {
    /// Notes that the key with `prefix` was used at `at`. A lock held for one map lookup:
    /// after a key's first use in a flush interval, no allocation either.
    pub fn record(&self, prefix: &str, at: OffsetDateTime) {
        let mut pending = self.lock();
        match pending.get_mut(prefix) {
            Some(last) => *last = (*last).max(at),
            None => {
                pending.insert(prefix.to_owned(), at);
            }
        }
    }

    /// Every use noted since the last take.
    pub fn take(&self) -> HashMap<String, OffsetDateTime> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back uses a failed flush did not write, keeping the later time of each key.
    pub fn restore(&self, uses: HashMap<String, OffsetDateTime>) {
        let mut pending = self.lock();
        for (prefix, at) in uses {
            let last = pending.entry(prefix).or_insert(at);
            *last = (*last).max(at);
        }
    }

    // A panic while the lock was held cannot leave the map inconsistent: keep using it.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, OffsetDateTime>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Writes `uses` in one statement; returns how many keys changed.
pub fn write(
    conn: &mut PgConnection,
    uses: &HashMap<String, OffsetDateTime>,
) -> QueryResult<usize> {
    let (prefixes, times): (Vec<&str>, Vec<OffsetDateTime>) = uses
        .iter()
        .map(|(prefix, at)| (prefix.as_str(), *at))
        .unzip();
    diesel::sql_query(WRITE)
        .bind::<Array<Text>, _>(prefixes)
        .bind::<Array<Timestamptz>, _>(times)
        .execute(conn)
}

/// Writes keys' last-used times every `interval` while `keys` lives; logs, never panics.
pub fn flush_last_used_periodically(keys: Arc<dyn Keys>, interval: Duration) {
    let weak = Arc::downgrade(&keys);
    drop(keys);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(keys) = weak.upgrade() else { return };
            if let Err(err) = keys.flush_last_used().await {
                log::warn!("API keys' last-used times not written (kept for the next try): {err}");
            }
        }
    });
}

impl super::PgIam {
    /// Takes the noted uses and writes them through the pool; on failure puts them back.
    pub(super) async fn write_last_used(&self) -> Result<usize, super::IamError> {
        let uses = Arc::new(self.last_used.take());
        if uses.is_empty() {
            return Ok(0);
        }
        let batch = Arc::clone(&uses);
        let written = self
            .db
            .run(move |conn| write(conn, &batch).map_err(super::IamError::from))
            .await;
        if written.is_err() {
            self.last_used.restore(Arc::unwrap_or_clone(uses));
        }
        written
    }
}
