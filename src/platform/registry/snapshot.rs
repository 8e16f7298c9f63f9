//! The in-memory set of active entries that [`super::Registry::is_active`] answers from.
//! Kept fresh by LISTEN/NOTIFY from any server process, with a periodic full reload as a
//! safety net should a notification be missed while reconnecting.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::{Connection, QueryResult, RunQueryDsl};

/// The channel onboarding notifies on commit.
pub const CHANNEL: &str = "registry_changed";

const POLL: Duration = Duration::from_millis(200);
const RESYNC: Duration = Duration::from_secs(30);
const RECONNECT: Duration = Duration::from_secs(2);

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
    let spawned = std::thread::Builder::new()
        .name("registry-listener".into())
        .spawn(move || {
            while snapshot.strong_count() > 0 {
                if let Err(err) = listen(&snapshot, &url, load) {
                    log::warn!("registry listener: {err}; reconnecting");
                }
                std::thread::sleep(RECONNECT);
            }
        });
    if let Err(err) = spawned {
        log::error!("registry listener could not start: {err}; lookups use the start-up snapshot");
    }
}

/// Listens until the connection fails or the snapshot is dropped.
fn listen(snapshot: &Weak<Snapshot>, url: &str, load: Loader) -> Result<(), String> {
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .map_err(|e| e.to_string())?;
    // Anything committed while we were not listening is picked up by this first load.
    let mut last_load = reload(snapshot, &mut conn, load)?;
    loop {
        std::thread::sleep(POLL);
        if snapshot.strong_count() == 0 {
            return Ok(());
        }
        let mut notified = false;
        for notification in conn.notifications_iter() {
            notification.map_err(|e| e.to_string())?;
            notified = true;
        }
        if notified || last_load.elapsed() >= RESYNC {
            last_load = reload(snapshot, &mut conn, load)?;
        }
    }
}

fn reload(
    snapshot: &Weak<Snapshot>,
    conn: &mut PgConnection,
    load: Loader,
) -> Result<Instant, String> {
    let active = load(conn).map_err(|e| e.to_string())?;
    if let Some(snapshot) = snapshot.upgrade() {
        snapshot.replace(active);
    }
    Ok(Instant::now())
}
