//! Every record a request causes names the request: its correlation id, client address
//! and user agent; denials, sign-ins, sign-outs and every account's creation are recorded;
//! the CLI names the operating-system user.

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{TestApp, aicloud};
use crate::iam_tenants::{audited, tenants};

#[derive(QueryableByName)]
struct Outbox {
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    correlation_id: Option<String>,
}

fn outbox(app: &TestApp) -> Vec<Outbox> {
    diesel::sql_query("SELECT event_type, correlation_id FROM events.outbox ORDER BY seq")
        .load(&mut app.db.connect())
        .expect("outbox")
}

#[tokio::test]
async fn records_of_a_request_carry_its_correlation_id_address_and_agent() {
    let app = TestApp::spawn().await;
    let key = json!({ "name": "k", "scopes": ["platform.iam.read"], "service_account": "admin" });

    let res = app
        .client
        .post(app.url("/api/v1/iam/orgs/platform-ops/projects/default/keys"))
        .bearer_auth(app.admin_key().await)
        .header("x-request-id", "req-correlated-1")
        .header("user-agent", "audit-test/1.0")
        .json(&key)
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 201);
    let created = audited(&app, "platform.api_key.issued").await;
    let event = created
        .iter()
        .find(|e| e["correlation_id"] == "req-correlated-1");
    let event = event.expect("the event carries the request id");
    assert_eq!(event["client_ip"], "127.0.0.1");
    assert_eq!(event["user_agent"], "audit-test/1.0");
    let announced = outbox(&app);
    assert!(
        announced
            .iter()
            .any(|o| o.event_type == "platform.iam.key_issued"
                && o.correlation_id.as_deref() == Some("req-correlated-1")),
        "the outbox message is correlated too"
    );
}

#[tokio::test]
async fn a_denied_attempt_leaves_a_trace_naming_who_tried_what() {
    let t = tenants().await;
    let alice_prefix = t.alice_key.split('_').nth(1).expect("prefix");
    let revoke = format!("/api/v1/iam/orgs/org-a/projects/default/keys/{alice_prefix}/revoke");

    let res = crate::iam_tenants::api(&t.app, &t.dave_key, "POST", &revoke, None).await;

    assert_eq!(res.status(), 403);
    let denied = audited(&t.app, "platform.access.denied").await;
    let event = denied.first().expect("the denial is audited");
    assert_eq!(event["result"], "denied");
    assert_eq!(
        event["target_id"],
        "POST /api/v1/iam/orgs/{org}/projects/{project}/keys/{prefix}/revoke"
    );
    let dave_prefix = t.dave_key.split('_').nth(1).expect("prefix");
    assert!(event["actor"].to_string().contains(dave_prefix), "{event}");
    assert!(event["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn signing_in_and_out_and_bootstrapping_are_recorded() {
    let app = TestApp::spawn().await;
    let browser = app.admin().await; // bootstrap, then sign in
    let home = browser.get(app.url("/")).send().await.expect("home");
    let csrf = crate::helpers::csrf_in(&home.text().await.expect("html"));

    let out = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .expect("sent");

    assert_eq!(out.status(), 303);
    let created = audited(&app, "platform.user.created").await;
    assert_eq!(created.len(), 1, "bootstrap's account: {created:?}");
    let started = audited(&app, "platform.session.started").await;
    let ended = audited(&app, "platform.session.ended").await;
    assert_eq!((started.len(), ended.len()), (1, 1));
    assert_eq!(started[0]["actor"]["id"], ended[0]["actor"]["id"]);
}

#[tokio::test]
async fn the_command_line_names_the_operating_system_user() {
    let app = TestApp::spawn().await;
    app.admin_key().await;
    let os_user = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    let os_user = String::from_utf8_lossy(&os_user.stdout).trim().to_owned();

    let out = aicloud(&app.db, &["org", "create", "cli-org", "--name", "CLI"]);

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Vec<Value> = audited(&app, "platform.organization.created").await;
    let actor = &created.first().expect("audited")["actor"]["id"];
    assert_eq!(
        actor,
        &json!(format!("cli:{os_user}")),
        "without $USER in its environment"
    );
}

#[tokio::test]
async fn a_reactivation_is_announced_as_one() {
    let app = TestApp::spawn().await;
    app.admin_key().await;
    for args in [
        &["org", "create", "paused", "--name", "Paused"][..],
        &["org", "suspend", "paused"],
        &["org", "reactivate", "paused"],
    ] {
        let out = aicloud(&app.db, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let kinds: Vec<String> = outbox(&app).into_iter().map(|o| o.event_type).collect();

    let state = |k: &&String| k.starts_with("platform.iam.organization_");
    let changes: Vec<&String> = kinds.iter().filter(state).collect();
    assert_eq!(
        changes,
        [
            "platform.iam.organization_suspended",
            "platform.iam.organization_reactivated"
        ]
    );
}
