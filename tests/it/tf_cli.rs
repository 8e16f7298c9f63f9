//! `aicloud tf`: the catalog from the command line, audited, and the first-run demo whose
//! key the server then serves.

use std::time::Duration;

use serde_json::Value;

use crate::billing_support::scalar_in;
use crate::helpers::{TestApp, TestDb, aicloud};

fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = aicloud(db, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "aicloud {}: {}{}",
        args.join(" "),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn onboard(db: &TestDb) {
    for packet in [
        "config/products/platform.toml",
        "config/products/token-factory.toml",
    ] {
        ok(db, &["product", "onboard", packet]);
    }
}

#[tokio::test]
async fn models_and_endpoints_are_added_shown_disabled_and_removed_each_audited() {
    let db = tokio::task::spawn_blocking(TestDb::create)
        .await
        .expect("db");
    let db = tokio::task::spawn_blocking(move || {
        onboard(&db);
        db
    })
    .await
    .expect("onboarded");
    let run = |args: Vec<&'static str>| {
        let db = &db;
        ok(db, &args)
    };

    let added = run(vec![
        "tf",
        "model",
        "add",
        "vllm-small",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--upstream-model",
        "small",
        "--context-length",
        "2048",
        "--max-output-tokens",
        "128",
    ]);
    run(vec![
        "tf",
        "endpoint",
        "add",
        "vllm-small",
        "backup",
        "--base-url",
        "http://127.0.0.1:10/v1",
        "--upstream-model",
        "small",
        "--weight",
        "3",
    ]);
    let shown: Value =
        serde_json::from_str(&run(vec!["tf", "model", "show", "vllm-small", "--json"]))
            .expect("json");
    run(vec!["tf", "endpoint", "remove", "vllm-small", "backup"]);
    let disabled = run(vec!["tf", "model", "disable", "vllm-small"]);
    let list = run(vec!["tf", "model", "list"]);
    let refused = aicloud(
        &db,
        &["tf", "model", "add", "bad id!", "--base-url", "ftp://x"],
    );

    assert!(
        added.contains("vllm-small")
            && added.contains("endpoint primary: http://127.0.0.1:9/v1 as small"),
        "{added}"
    );
    assert_eq!(shown["endpoints"].as_array().map(Vec::len), Some(2));
    assert_eq!(shown["endpoints"][1]["weight"], 3);
    assert!(disabled.contains("vllm-small is disabled"), "{disabled}");
    for id in ["demo-echo", "demo-embed", "vllm-small"] {
        assert!(list.contains(id), "{list}");
    }
    assert!(!refused.status.success());
    let actions = scalar_in(
        &db,
        "SELECT string_agg(action, ',' ORDER BY seq) AS n FROM audit.events WHERE action LIKE 'token_factory.%'",
    );
    assert_eq!(
        actions,
        "token_factory.model.added,token_factory.endpoint.registered,token_factory.endpoint.removed,token_factory.model.disabled"
    );
    // Each is announced as the packet declares, for every gateway replica and status.
    let announced = scalar_in(
        &db,
        "SELECT string_agg(event_type || ' ' || (payload->>'change'), ',' ORDER BY seq) AS n \
         FROM events.outbox WHERE event_type IN ('token_factory.model.changed', 'token_factory.routing.changed') \
         AND payload->>'model' = 'vllm-small'",
    );
    assert_eq!(
        announced,
        "token_factory.model.changed added,token_factory.routing.changed registered,\
         token_factory.routing.changed removed,token_factory.model.changed disabled"
    );
}

#[tokio::test]
async fn the_first_run_demo_prints_a_key_the_server_serves_the_demo_model_with() {
    let app = TestApp::spawn().await;
    let db = &app.db;
    onboard(db);

    let made: Value = serde_json::from_str(&ok(db, &["tf", "demo", "--json"])).expect("json");
    let again = ok(db, &["tf", "demo", "--if-absent"]);
    let text = aicloud(db, &["tf", "demo"]);

    assert!(again.contains("exists already"), "{again}");
    assert!(
        !text.status.success(),
        "without --if-absent a second demo is refused"
    );
    let key = made["key"].as_str().expect("a key");
    let body = serde_json::json!({"model": "demo-echo", "messages": [{"role": "user", "content": "hello demo"}]});
    for _ in 0..100 {
        let res = app
            .client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("sent");
        if res.status() == 200 {
            let reply: Value = res.json().await.expect("json");
            assert_eq!(reply["choices"][0]["message"]["content"], "hello demo");
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("the demo key was never served");
}
