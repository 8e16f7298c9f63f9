//! The reusable NOTIFY-refreshed snapshot (`base::db::snapshot`): loaded at start, reloaded
//! on a notification from any connection and by its periodic resync, and stopped cleanly.

use std::time::{Duration, Instant};

use aicloud::base::db::snapshot::{Freshness, Snapshot};
use aicloud::base::db::{Db, DbError};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::helpers::TestDb;

const CHANNEL: &str = "snapshot_probe_changed";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .expect("count")
        .n
}

fn execute(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).expect(sql);
}

/// A snapshot of how many rows `probe` has, over the owner's connection, and a connection
/// to change it with.
async fn probe(db: &TestDb, resync: Duration) -> (Snapshot<i64>, PgConnection) {
    let mut conn = db.connect();
    execute(&mut conn, "CREATE TABLE probe (n int)");
    let pool = Db::new(&db.owner_url, 2, Duration::from_secs(5)).expect("pool");
    let freshness = Freshness {
        channel: CHANNEL,
        poll: Duration::from_millis(50),
        resync,
    };
    let snapshot = Snapshot::start(pool, listener_url(db), freshness, |conn| {
        Ok::<_, DbError>(count(conn, "SELECT count(*) AS n FROM probe"))
    })
    .await
    .expect("snapshot starts");
    (snapshot, conn)
}

/// Waits until `condition` holds, at most `within`.
async fn eventually(within: Duration, what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The listener connects under a name of its own, so the test can see it come and go.
const LISTENER: &str = "snapshot_probe_listener";

fn listener_url(db: &TestDb) -> String {
    let sep = if db.owner_url.contains('?') { '&' } else { '?' };
    format!("{}{sep}application_name={LISTENER}", db.owner_url)
}

/// Open connections of the listener to `db`.
fn listeners(db: &TestDb) -> i64 {
    let sql = format!(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{}' AND application_name = '{LISTENER}'",
        db.name
    );
    count(&mut db.connect(), &sql)
}

#[tokio::test]
async fn a_notification_from_another_connection_reloads_the_snapshot_within_a_second() {
    let db = TestDb::create();
    let (snapshot, mut conn) = probe(&db, Duration::from_secs(3600)).await;
    assert_eq!(**snapshot.get(), 0);

    execute(&mut conn, "INSERT INTO probe VALUES (1)");
    execute(&mut conn, &format!("NOTIFY {CHANNEL}"));

    eventually(Duration::from_secs(1), "reloaded on NOTIFY", || {
        **snapshot.get() == 1
    })
    .await;
}

#[tokio::test]
async fn the_periodic_resync_catches_a_change_nobody_announced() {
    let db = TestDb::create();
    let (snapshot, mut conn) = probe(&db, Duration::from_millis(200)).await;

    execute(&mut conn, "INSERT INTO probe VALUES (1), (2)");

    eventually(Duration::from_secs(2), "resynced", || **snapshot.get() == 2).await;
}

#[tokio::test]
async fn reload_and_replace_change_the_value_at_once() {
    let db = TestDb::create();
    let (snapshot, mut conn) = probe(&db, Duration::from_secs(3600)).await;

    snapshot.replace(7);
    let replaced = **snapshot.get();
    execute(&mut conn, "INSERT INTO probe VALUES (1)");
    snapshot.reload().await.expect("reloaded");

    assert_eq!(replaced, 7);
    assert_eq!(**snapshot.get(), 1);
}

#[tokio::test]
async fn stopping_or_dropping_the_snapshot_ends_its_listener() {
    let db = TestDb::create();
    let (stopped, _conn) = probe(&db, Duration::from_secs(3600)).await;
    let second = TestDb::create();
    let (dropped, _second_conn) = probe(&second, Duration::from_secs(3600)).await;
    eventually(Duration::from_secs(2), "listening", || {
        listeners(&db) == 1 && listeners(&second) == 1
    })
    .await;

    stopped.stop();
    drop(dropped);

    eventually(Duration::from_secs(2), "stopped listener gone", || {
        listeners(&db) == 0
    })
    .await;
    eventually(Duration::from_secs(2), "dropped listener gone", || {
        listeners(&second) == 0
    })
    .await;
    assert_eq!(
        **stopped.get(),
        0,
        "a stopped snapshot keeps its last value"
    );
}
