//! A value held in memory and kept fresh from the database, so readers never touch it: loaded
//! at start, reloaded whenever a NOTIFY arrives on its channel (from any server process), and
//! reloaded by a periodic resync should a notification be missed while reconnecting.
//!
//! Every module's in-memory read model is one of these; a module brings only its loader
//! and its channel, and says how fresh it must stay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use diesel::pg::PgConnection;

use super::listen::{self, Next};
use super::{Db, DbError};

/// Reads the whole value from the database.
type Loader<T> = Arc<dyn Fn(&mut PgConnection) -> Result<T, DbError> + Send + Sync>;

/// How a snapshot stays fresh.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// The channel whose notifications mean "reload now".
    pub channel: &'static str,
    /// How often the listener looks for notifications: the longest a change waits.
    pub poll: Duration,
    /// The longest time between two listener reloads, notified or not.
    pub resync: Duration,
}

/// The current value, shared by every clone of the handle. The listener thread holds only
/// a weak reference: it ends at the next poll once every handle is dropped or
/// [`Snapshot::stop`] is called.
pub struct Snapshot<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<T> {
    value: ArcSwap<T>,
    /// Held across each load and its store, so a load that began before a change cannot
    /// store its older value over the value of a load that began after it.
    loading: std::sync::Mutex<()>,
    generation: std::sync::atomic::AtomicU64,
    db: Db,
    load: Loader<T>,
    stopped: AtomicBool,
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// Loads the value through `db`, then keeps it fresh from `url`'s notifications on
    /// `freshness.channel` on a thread of its own.
    pub async fn start<F>(
        db: Db,
        url: String,
        freshness: Freshness,
        load: F,
    ) -> Result<Snapshot<T>, DbError>
    where
        F: Fn(&mut PgConnection) -> Result<T, DbError> + Send + Sync + 'static,
    {
        let load: Loader<T> = Arc::new(load);
        let first = db.run(load_with(&load)).await?;
        let snapshot = Snapshot {
            inner: Arc::new(Inner {
                value: ArcSwap::from_pointee(first),
                loading: std::sync::Mutex::new(()),
                generation: std::sync::atomic::AtomicU64::new(0),
                db,
                load,
                stopped: AtomicBool::new(false),
            }),
        };
        keep_fresh(Arc::downgrade(&snapshot.inner), url, freshness);
        Ok(snapshot)
    }

    /// The current value; it stays whole however long it is held. Cheap enough for every
    /// request: hold it briefly (a long-held guard costs a reference count, like an `Arc`).
    pub fn get(&self) -> arc_swap::Guard<Arc<T>> {
        self.inner.value.load()
    }

    /// How many times the value was replaced: what a cache of something derived from the
    /// value compares to know it is still current.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Replaces the value.
    pub fn replace(&self, value: T) {
        self.inner.replace(value);
    }

    /// Loads the value now, so this process sees its own change at once (others follow by
    /// NOTIFY).
    pub async fn reload(&self) -> Result<(), DbError> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .db
            .run(move |conn| inner.load_and_store(conn))
            .await
    }

    /// Stops the listener at its next poll; the value keeps its last state.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
    }
}

impl<T> Inner<T> {
    fn replace(&self, value: T) {
        self.value.store(Arc::new(value));
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn load_and_store(&self, conn: &mut PgConnection) -> Result<(), DbError> {
        let _one_at_a_time = self
            .loading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let value = (self.load)(conn)?;
        self.replace(value);
        Ok(())
    }
}

/// A one-shot closure for [`Db::run`] calling the shared loader.
fn load_with<T>(
    load: &Loader<T>,
) -> impl FnOnce(&mut PgConnection) -> Result<T, DbError> + Send + 'static
where
    T: 'static,
{
    let load = Arc::clone(load);
    move |conn| load(conn)
}

/// Starts the listener thread; it reloads on every notification (and right after each
/// (re)connect, as anything may have been missed) and at least every `resync`.
fn keep_fresh<T: Send + Sync + 'static>(inner: Weak<Inner<T>>, url: String, freshness: Freshness) {
    let mut last_load = Instant::now();
    let name = format!("snapshot-{}", freshness.channel);
    let owner = Weak::clone(&inner);
    listen::spawn(
        &name,
        url,
        freshness.channel,
        freshness.poll,
        move || {
            owner
                .upgrade()
                .is_some_and(|i| !i.stopped.load(Ordering::SeqCst))
        },
        move |conn, notified| {
            let Some(current) = inner.upgrade() else {
                return Ok(Next::Stop);
            };
            if current.stopped.load(Ordering::SeqCst) {
                return Ok(Next::Stop);
            }
            if notified || last_load.elapsed() >= freshness.resync {
                current.load_and_store(conn).map_err(|e| e.to_string())?;
                last_load = Instant::now();
            }
            Ok(Next::Continue)
        },
    );
}
