//! The pool does not test a connection before each use (that doubled every call's round
//! trips): a connection idle for a second is tested when taken, and one a call failed on is
//! tested after it. A connection PostgreSQL dropped may fail the one call that finds it,
//! never the calls after; one dropped while idle fails none.

use diesel::prelude::*;

use crate::helpers::TestApp;

/// A call that reads the database on each request.
const PATH: &str = "/api/v1/audit/events?limit=1";

/// Makes the pool hold several connections, then terminates them; returns how many.
async fn warm_then_drop(app: &TestApp) -> usize {
    // Several calls at once, so the pool holds several connections to lose.
    let warm = futures_util::future::join_all((0..6).map(|_| app.get(PATH))).await;
    assert!(warm.iter().all(|r| r.status() == 200));
    drop_server_connections(app)
}

/// Terminates every connection the server's role holds to this database, but this one.
fn drop_server_connections(app: &TestApp) -> usize {
    let mut conn = app.db.connect_as_server();
    #[derive(QueryableByName)]
    struct Dropped {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        dropped: bool,
    }
    let rows: Vec<Dropped> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS dropped FROM pg_stat_activity \
         WHERE datname = current_database() AND usename = current_user AND pid <> pg_backend_pid()",
    )
    .load(&mut conn)
    .expect("terminate the server's connections");
    rows.iter().filter(|r| r.dropped).count()
}

#[tokio::test]
async fn connections_postgresql_dropped_fail_at_most_one_call_each_and_are_replaced() {
    let app = TestApp::spawn().await;
    let dropped = warm_then_drop(&app).await;
    assert!(dropped >= 2, "the server held {dropped} connections");

    // Each dead connection the pool still holds may fail one call; the pool holds at most
    // `database.pool_size` (10) of them.
    let mut failed = 0;
    let mut answered = Vec::new();
    for _ in 0..20 {
        let status = app.get(PATH).await.status().as_u16();
        answered.push(status);
        if status != 200 {
            assert_eq!(
                status, 503,
                "a lost connection is answered as unavailable: {answered:?}"
            );
            failed += 1;
        }
    }
    assert!(failed <= 10, "{answered:?}");
    assert!(
        answered[answered.len() - 8..].iter().all(|s| *s == 200),
        "the pool must have replaced its dead connections: {answered:?}"
    );
}

#[tokio::test]
async fn connections_dropped_while_idle_are_tested_when_taken_and_fail_no_call() {
    let app = TestApp::spawn().await;
    let dropped = warm_then_drop(&app).await;
    assert!(dropped >= 2, "the server held {dropped} connections");
    // Past the time a connection is trusted without a test.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for _ in 0..12 {
        let answered = app.get(PATH).await;
        assert_eq!(
            answered.status(),
            200,
            "an idle dead connection was handed out"
        );
    }
}
