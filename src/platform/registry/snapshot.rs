//! The in-memory set of active entries that [`super::Registry::is_active`] answers from.
//! Kept fresh by LISTEN/NOTIFY from any server process, with a periodic full reload as a
//! safety net should a notification be missed while reconnecting.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::QueryResult;
use diesel::pg::PgConnection;

use crate::db::listen::{self, Next};

/// The channel onboarding notifies on commit.
pub const CHANNEL: &str = "registry_changed";

const POLL: Duration = Duration::from_millis(200);
const RESYNC: Duration = Duration::from_secs(30);

/// Active entries by family, then id.
pub type Active = HashMap<String, HashMap<String, super::ActiveEntry>>;

/// Loads the active set from the database.
pub type Loader = fn(&mut PgConnection) -> QueryResult<Active>;

/// The current active set.
#[derive(Default)]
pub struct Snapshot {
    active: RwLock<Arc<Active>>,
}

impl Snapshot {
    /// The active entry `id` of `family`.
    pub fn get(&self, family: &str, id: &str) -> Option<super::ActiveEntry> {
        let active = match self.active.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        active.get(family).and_then(|ids| ids.get(id)).cloned()
    }

    /// Replaces the set.
    pub fn replace(&self, active: Active) {
        match self.active.write() {
            Ok(mut guard) => *guard = Arc::new(active),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(active),
        }
    }
}

/// Starts the thread that keeps `snapshot` fresh; it ends when the snapshot is dropped.
pub fn keep_fresh(snapshot: Weak<Snapshot>, url: String, load: Loader) {
    let mut last_load = Instant::now();
    listen::spawn(
        "registry-listener",
        url,
        CHANNEL,
        POLL,
        move |conn, notified| {
            let Some(current) = snapshot.upgrade() else {
                return Ok(Next::Stop);
            };
            if notified || last_load.elapsed() >= RESYNC {
                current.replace(load(conn).map_err(|e| e.to_string())?);
                last_load = Instant::now();
            }
            Ok(Next::Continue)
        },
    );
}
