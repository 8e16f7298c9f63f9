//! A real server killed with SIGKILL three times under load: every response that completed
//! (a whole JSON answer, or a stream up to `[DONE]`) is billed exactly once, none twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::billing_support::scalar_in;
use crate::helpers::{ServerProcess, TestDb, aicloud};

/// Onboards both packets and makes the demo organization; returns its key.
fn demo_key(db: &TestDb) -> String {
    for packet in [
        "config/products/platform.toml",
        "config/products/token-factory.toml",
    ] {
        assert!(
            aicloud(db, &["product", "onboard", packet])
                .status
                .success()
        );
    }
    let out = aicloud(db, &["tf", "demo", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).expect("json");
    made["key"].as_str().expect("key").to_owned()
}

/// One request; its request id if the response completed.
async fn call(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    stream: bool,
    n: usize,
) -> Option<String> {
    let body = json!({"model": "demo-echo", "stream": stream,
        "messages": [{"role": "user", "content": format!("request {n} of the crash test")}]});
    let res = client
        .post(format!("{base}v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .ok()?;
    if res.status() != 200 {
        return None;
    }
    let id = res.headers().get("x-request-id")?.to_str().ok()?.to_owned();
    if !stream {
        let reply: Value = res.json().await.ok()?;
        return reply["usage"].is_object().then_some(id);
    }
    let mut text = String::new();
    let mut body = res.bytes_stream();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.ok()?));
    }
    text.ends_with("data: [DONE]\n\n").then_some(id)
}

async fn wait_until_served(client: &reqwest::Client, base: &str, key: &str) {
    for _ in 0..200 {
        if call(client, base, key, false, 0).await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server never served the demo key");
}

/// Loads `server` from 8 clients until `at_least` responses completed, then kills it.
async fn load_then_kill(
    server: ServerProcess,
    key: &str,
    completed: &Arc<Mutex<HashSet<String>>>,
    at_least: usize,
) {
    let client = reqwest::Client::new();
    wait_until_served(&client, &server.url, key).await;
    let done_this_round = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (client, base, key) = (client.clone(), server.url.clone(), key.to_owned());
            let (completed, done, stop) = (
                Arc::clone(completed),
                Arc::clone(&done_this_round),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match call(&client, &base, &key, (c + n) % 2 == 0, n).await {
                        Some(id) => {
                            completed.lock().expect("lock").insert(id);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        None if stop.load(Ordering::SeqCst) => break,
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();
    while done_this_round.load(Ordering::SeqCst) < at_least {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::task::spawn_blocking(move || server.kill())
        .await
        .expect("killed");
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_three_times_under_load_bills_every_completed_response_exactly_once() {
    let db = tokio::task::spawn_blocking(TestDb::create)
        .await
        .expect("db");
    let key = demo_key(&db);
    let completed: Arc<Mutex<HashSet<String>>> = Arc::default();
    let slow_words = [("AICLOUD__TOKEN_FACTORY__DEMO_WORD_DELAY_MS", "2")];

    for round in 1..=3 {
        let server = ServerProcess::start(&db, &slow_words);
        load_then_kill(server, &key, &completed, 60 * round).await;
    }

    // Usage the last kill left captured but not yet posted is the next start's to post.
    let next = ServerProcess::start(&db, &[]);
    crate::billing_support::wait_posted(&db).await;
    tokio::task::spawn_blocking(move || next.kill())
        .await
        .expect("killed");

    let completed: Vec<String> = completed.lock().expect("lock").iter().cloned().collect();
    assert!(completed.len() >= 60 * 6, "{} completed", completed.len());
    let ids = completed
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let billed = scalar_in(
        &db,
        &format!(
            "SELECT count(DISTINCT split_part(u.event_id, ':', 1))::text AS n FROM billing.usage_events u \
             JOIN billing.ratings r ON r.usage_id = u.id \
             WHERE split_part(u.event_id, ':', 1) IN ({ids}) AND u.unit = 'token_factory.requests'"
        ),
    );
    assert_eq!(
        billed,
        completed.len().to_string(),
        "every completed response is billed and rated"
    );
    let twice = scalar_in(
        &db,
        "SELECT count(*)::text AS n FROM (SELECT split_part(event_id, ':', 1) AS request, unit \
         FROM billing.usage_events GROUP BY 1, 2 HAVING count(*) > 1) twice",
    );
    assert_eq!(twice, "0", "no request is billed twice for a unit");
    let reconciled = aicloud(&db, &["billing", "reconcile"]);
    assert!(
        reconciled.status.success(),
        "{}",
        String::from_utf8_lossy(&reconciled.stdout)
    );
}
