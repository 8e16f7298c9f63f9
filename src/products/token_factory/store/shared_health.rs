//! Endpoint health shared across server processes: each transition a process observes is
//! recorded (with the event announcing it) and notified; every process follows the
//! records and takes the endpoint out of, or back into, its own rotation. The request path
//! reads only the in-memory [`Health`]; this runs beside it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::prelude::*;
use diesel::upsert::excluded;
use uuid::Uuid;

use super::super::schema::endpoint_health;
use super::super::upstream::health::{Health, Transition};
use crate::base::db::DbError;
use crate::base::db::listen::{self, Next};

/// The channel a recorded transition notifies on commit.
const CHANNEL: &str = "token_factory_health";
/// How often the follower looks for notifications.
const POLL: Duration = Duration::from_millis(100);
/// Records read per query; a round reads until it gets fewer.
const BATCH: i64 = 500;

/// Records `change` as the endpoint's shared health, in the caller's transaction.
pub fn record(conn: &mut PgConnection, change: Transition) -> Result<(), DbError> {
    use endpoint_health::dsl as h;
    diesel::insert_into(endpoint_health::table)
        .values((
            h::endpoint_id.eq(change.endpoint),
            h::healthy.eq(change.healthy),
        ))
        .on_conflict(h::endpoint_id)
        .do_update()
        .set((
            h::healthy.eq(change.healthy),
            h::version.eq(excluded(h::version)),
            h::changed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
    Ok(())
}

/// Starts the thread that applies the records to `health`: every one at the start, so a
/// new process begins with what the others learnt, then each newer one as it is notified
/// (and after a reconnect, whatever was missed), until `health` is dropped or `stopped`
/// is set. A process's own records come back to it too; applying them changes nothing.
pub fn follow(url: String, health: &Arc<Health>, stopped: Arc<AtomicBool>) {
    let owner: Weak<Health> = Arc::downgrade(health);
    let (asked, ticked) = (owner.clone(), stopped.clone());
    let mut seen = 0_i64;
    listen::spawn(
        "tf-endpoint-health",
        url,
        CHANNEL,
        POLL,
        move || live(&asked, &ticked).is_some(),
        move |conn, notified| {
            let Some(health) = live(&owner, &stopped) else {
                return Ok(Next::Stop);
            };
            if notified {
                seen = apply_since(conn, &health, seen).map_err(|e| e.to_string())?;
            }
            Ok(Next::Continue)
        },
    );
}

/// The health to follow for, unless it is gone or the follower was stopped.
fn live(owner: &Weak<Health>, stopped: &AtomicBool) -> Option<Arc<Health>> {
    owner.upgrade().filter(|_| !stopped.load(Ordering::SeqCst))
}

/// Applies the records newer than `seen`, oldest first; the newest version applied.
fn apply_since(conn: &mut PgConnection, health: &Health, mut seen: i64) -> Result<i64, DbError> {
    use endpoint_health::dsl as h;
    loop {
        let rows: Vec<(Uuid, bool, i64)> = h::endpoint_health
            .filter(h::version.gt(seen))
            .order(h::version.asc())
            .limit(BATCH)
            .select((h::endpoint_id, h::healthy, h::version))
            .load(conn)?;
        let full = rows.len() as i64 == BATCH;
        for (endpoint, healthy, version) in rows {
            health.adopt(endpoint, healthy);
            seen = version;
        }
        if !full {
            return Ok(seen);
        }
    }
}
