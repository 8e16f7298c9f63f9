//! The pool does not test a connection before each use (that doubled every call's round
//! trips), so a connection PostgreSQL dropped must be found out by the call that uses it,
//! and replaced: it may fail that one call, never the calls after.

use diesel::prelude::*;

use crate::helpers::TestApp;

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
    let path = "/api/v1/audit/events?limit=1";
    // Several calls at once, so the pool holds several connections to lose.
    let warm = futures_util::future::join_all((0..6).map(|_| app.get(path))).await;
    assert!(warm.iter().all(|r| r.status() == 200));

    let dropped = drop_server_connections(&app);
    assert!(dropped >= 2, "the server held {dropped} connections");

    // Each dead connection the pool still holds may fail one call; the pool holds at most
    // `database.pool_size` (10) of them.
    let mut failed = 0;
    let mut answered = Vec::new();
    for _ in 0..20 {
        let status = app.get(path).await.status().as_u16();
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
