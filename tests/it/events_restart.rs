//! A server killed (SIGKILL) after announcing a change leaves the announcement in the
//! outbox; the next process's relay delivers it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aicloud::platform::events::{Consumer, Envelope};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::helpers::{
    KilledOnDrop, TestDb, admin_key_for, onboard_over_http, packet, platform_for, portal_url,
    server_command,
};

#[derive(Default)]
struct Seen(Mutex<Vec<serde_json::Value>>);

#[async_trait::async_trait]
impl Consumer for Seen {
    async fn handle(&self, event: &Envelope) -> Result<(), String> {
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .push(event.payload.clone());
        Ok(())
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn pending_for(conn: &mut PgConnection, consumer: &str) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM events.deliveries WHERE consumer = $1 AND status = 'pending'",
    )
    .bind::<diesel::sql_types::Text, _>(consumer)
    .get_result::<Count>(conn)
    .expect("count")
    .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_from_a_killed_server_is_delivered_after_restart() {
    let db = TestDb::create();
    let next_process = platform_for(&db, &[("AICLOUD__EVENTS__POLL_MS", "50")]).await;
    let seen = Arc::new(Seen::default());
    // Registered, not yet relaying: the consumer of "the next process".
    next_process
        .events
        .subscribe("test.after_kill", &["platform.registry.*"], seen.clone())
        .await
        .expect("subscribed");

    let mut server = KilledOnDrop(
        server_command(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts"),
    );
    let mut banner = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let url = portal_url(&banner);
    let key = admin_key_for(&next_process).await;
    let onboarded =
        onboard_over_http(&reqwest::Client::new(), &url, &key, packet("token-factory")).await;
    assert_eq!(onboarded.status(), 200);
    let mut conn = db.connect();
    for _ in 0..200 {
        if pending_for(&mut conn, "test.after_kill") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        pending_for(&mut conn, "test.after_kill") >= 1,
        "the server fanned the announcement out"
    );

    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    next_process.events.start_relay();

    let mut delivered = false;
    for _ in 0..200 {
        let payloads = seen.0.lock().expect("lock").clone();
        if payloads.iter().any(|p| p["product_id"] == "token_factory") {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        delivered,
        "the killed server's announcement reached the consumer"
    );
    // The relay marks a delivery done after its consumer returns, and the onboarding left
    // more than one announcement, so the last may still be in hand for a moment.
    let mut pending = pending_for(&mut conn, "test.after_kill");
    for _ in 0..200 {
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        pending = pending_for(&mut conn, "test.after_kill");
    }
    assert_eq!(pending, 0, "every announcement was delivered");
}
