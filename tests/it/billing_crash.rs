//! A server killed with SIGKILL during sustained ingestion loses no usage it answered
//! accepted and charges none twice: after a restart every such event is in the ledger
//! once, and sending everything again yields only duplicates.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aicloud::platform::iam::{KeyHolder, NewKey};
use serde_json::{Value, json};

use crate::billing_support::{Billed, INPUT, console};
use crate::helpers::{ServerProcess, aicloud};

/// A service-account key that may submit usage.
async fn publisher_key(b: &Billed) -> String {
    let sa = b
        .platform
        .keys
        .create_service_account(&console(), "acme", "default", "publisher", "test", "usage")
        .await
        .expect("service account");
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "publisher".into(),
        scopes: vec![
            "platform.admin".into(),
            "platform.billing.usage_ingest".into(),
        ],
        model_allowlist: None,
        expires_at: None,
    };
    b.platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("key")
        .secret
}

async fn wait_for_key(client: &reqwest::Client, url: &str, key: &str) {
    for _ in 0..200 {
        let me = client
            .get(format!("{url}api/v1/iam/me"))
            .bearer_auth(key)
            .send()
            .await;
        if me.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the server never accepted the key");
}

/// Sends `events`; the outcome of each, or `None` if the server did not answer.
async fn send(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    events: &[Value],
) -> Option<Vec<(String, String)>> {
    let res = client
        .post(format!("{url}api/v1/billing/usage"))
        .bearer_auth(key)
        .json(&json!({ "events": events }))
        .send()
        .await
        .ok()?;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.ok()?;
    let results = body["results"].as_array()?;
    Some(
        results
            .iter()
            .map(|r| {
                (
                    r["event_id"].as_str().unwrap_or("").to_owned(),
                    r["outcome"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_during_ingestion_loses_nothing_it_accepted_and_charges_nothing_twice() {
    let b = Billed::start().await;
    b.price(INPUT, "0.000015").await;
    b.top_up(1_000_000).await;
    let key = publisher_key(&b).await;
    let client = reqwest::Client::new();
    let server = ServerProcess::start(&b.db, &[]);
    wait_for_key(&client, &server.url, &key).await;

    let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let (client, url, key) = (client.clone(), server.url.clone(), key.clone());
            let (sent, accepted, answered) = (sent.clone(), accepted.clone(), answered.clone());
            let template = serde_json::to_value(b.event("x", INPUT, 1000, "demo")).expect("event");
            tokio::spawn(async move {
                for batch in 0.. {
                    let events: Vec<Value> = (0..50)
                        .map(|i| {
                            let mut e = template.clone();
                            e["event_id"] = json!(format!("s{sender}-{batch}-{i}"));
                            e
                        })
                        .collect();
                    sent.lock().expect("sent").extend(events.iter().cloned());
                    let Some(outcomes) = send(&client, &url, &key, &events).await else {
                        break;
                    };
                    let mut accepted = accepted.lock().expect("accepted");
                    accepted.extend(
                        outcomes
                            .into_iter()
                            .filter(|(_, o)| o == "accepted")
                            .map(|(id, _)| id),
                    );
                    answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.kill();
    for sender in senders {
        sender.await.expect("sender");
    }

    let server = ServerProcess::start(&b.db, &[]);
    wait_for_key(&client, &server.url, &key).await;
    let accepted: HashSet<String> = accepted.lock().expect("accepted").clone();
    assert!(accepted.len() >= 40 * 50);
    let ids: Vec<String> = accepted.iter().cloned().collect();
    let stored = b.scalar(&format!(
        "SELECT count(*)::text AS n FROM billing.usage_events u JOIN billing.ratings r ON r.usage_id = u.id \
         WHERE u.event_id IN ({})",
        ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",")
    ));
    assert_eq!(
        stored,
        accepted.len().to_string(),
        "every event answered accepted is stored and rated once"
    );

    let everything = sent.lock().expect("sent").clone();
    for round in 0..2 {
        for chunk in everything.chunks(500) {
            let outcomes = send(&client, &server.url, &key, chunk)
                .await
                .expect("answered");
            for (id, outcome) in outcomes {
                let must_be_duplicate = round == 1 || accepted.contains(&id);
                if must_be_duplicate {
                    assert_eq!(outcome, "duplicate", "{id} in round {round}");
                } else {
                    assert!(
                        ["accepted", "duplicate"].contains(&outcome.as_str()),
                        "{id}: {outcome}"
                    );
                }
            }
        }
    }
    let total = b.scalar("SELECT count(*)::text AS n FROM billing.usage_events");
    assert_eq!(total, everything.len().to_string());
    let reconciled = aicloud(&b.db, &["billing", "reconcile"]);
    assert!(
        reconciled.status.success(),
        "{}",
        String::from_utf8_lossy(&reconciled.stdout)
    );
}
