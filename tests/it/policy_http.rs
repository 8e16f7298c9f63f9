//! Policy over HTTP against real servers: a held decision's concurrency slot freed when the
//! client drops its connection, settling a held reservation, and a change made through one
//! server process enforced by a second.

use std::time::{Duration, Instant};

use aicloud::platform::iam::{CreatedOrganization, KeyHolder, NewKey};
use aicloud::platform::policy::NewPlan;
use serde_json::{Value as Json, json};

use crate::helpers::{ServerProcess, TestApp, TestDb, admin_key_for, platform_for};
use crate::policy_support::{CONCURRENT, RPM, console, limit};

/// Onboards Token Factory, creates `acme` on plan `gold` with `limits`, and returns it
/// with a platform administrator's key.
async fn set_up(
    db: &TestDb,
    limits: Vec<aicloud::platform::policy::PlanLimit>,
) -> (CreatedOrganization, String) {
    let (platform, org) = crate::policy_support::token_factory_and_acme(db).await;
    let plan = NewPlan {
        name: "gold".into(),
        description: "test".into(),
        products: vec!["*".into()],
        limits,
    };
    platform
        .plans
        .create_plan(&console(), plan)
        .await
        .expect("plan");
    platform
        .plans
        .assign(&console(), "acme", "gold", None)
        .await
        .expect("assigned");
    let key = admin_key_for(&platform).await;
    (org, key)
}

fn body(org: &CreatedOrganization, dimension: &str, hold: bool) -> Json {
    json!({
        "organization_id": org.organization.id,
        "project_id": org.project.id,
        "product": "token_factory",
        "deltas": [{ "dimension": dimension, "amount": 1 }],
        "hold": hold,
    })
}

/// Decides `body` on `server` (client, base URL, key) until an answer satisfies `done`,
/// failing past `within`; returns how long it took.
async fn until(
    (http, base, key): (&reqwest::Client, &str, &str),
    body: &Json,
    within: Duration,
    done: impl Fn(&Json) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let answer: Json = decide(http, base, key, body)
            .await
            .json()
            .await
            .expect("json");
        if done(&answer) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {answer} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Allowed, or allowed with a warning (taking the last slot of 1 is past 80 %).
fn admitted(answer: &Json) -> bool {
    matches!(answer["decision"].as_str(), Some("allow" | "warn"))
}

async fn decide(http: &reqwest::Client, base: &str, key: &str, body: &Json) -> reqwest::Response {
    http.post(format!("{base}/api/v1/policy/decisions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("sent")
}

/// Decides until the server knows the key, the packet and the plan (each by NOTIFY), and
/// returns the first admission under the gold plan.
async fn first_answer(http: &reqwest::Client, base: &str, key: &str, body: &Json) -> Json {
    for _ in 0..200 {
        let res = decide(http, base, key, body).await;
        if res.status() == 200 {
            let answer: Json = res.json().await.expect("json");
            if answer["snapshot"]["plan"] == "gold@1" && admitted(&answer) {
                return answer;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server never admitted under the gold plan");
}

#[tokio::test]
async fn a_held_slot_is_freed_when_the_client_drops_its_connection() {
    let app = TestApp::spawn().await;
    let (org, key) = set_up(&app.db, vec![limit(CONCURRENT, 1)]).await;
    let free = first_answer(
        &app.client,
        &app.address,
        &key,
        &body(&org, CONCURRENT, false),
    )
    .await;
    assert!(admitted(&free), "{free}");

    let holder = reqwest::Client::new();
    let mut held = decide(&holder, &app.address, &key, &body(&org, CONCURRENT, true)).await;
    assert_eq!(held.status(), 200);
    assert_eq!(held.headers()["content-type"], "application/x-ndjson");
    let first = held.chunk().await.expect("read").expect("a first line");
    let answer: Json = serde_json::from_slice(&first).expect("the decision");
    assert!(admitted(&answer), "{answer}");
    assert!(answer["reservation_id"].is_string());

    let busy: Json = decide(
        &app.client,
        &app.address,
        &key,
        &body(&org, CONCURRENT, false),
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(
        (busy["decision"].as_str(), busy["reason"].as_str()),
        (Some("deny"), Some("concurrency_exhausted")),
        "{busy}"
    );

    drop(held);
    drop(holder);
    let server = (&app.client, app.address.as_str(), key.as_str());
    let within = Duration::from_secs(5);
    let freed = until(server, &body(&org, CONCURRENT, false), within, admitted).await;
    println!("slot freed {freed:?} after the client dropped its connection");
}

#[tokio::test]
async fn a_held_reservation_is_settled_by_its_holder_only() {
    let app = TestApp::spawn().await;
    let (org, key) = set_up(&app.db, vec![limit(CONCURRENT, 1)]).await;
    first_answer(
        &app.client,
        &app.address,
        &key,
        &body(&org, CONCURRENT, false),
    )
    .await;
    let mut held = decide(
        &app.client,
        &app.address,
        &key,
        &body(&org, CONCURRENT, true),
    )
    .await;
    let first = held.chunk().await.expect("read").expect("a first line");
    let answer: Json = serde_json::from_slice(&first).expect("the decision");
    let id = answer["reservation_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned();
    let settle = |who: String| {
        let (http, url) = (
            app.client.clone(),
            app.url(&format!("/api/v1/policy/reservations/{id}/settle")),
        );
        async move {
            http.post(url)
                .bearer_auth(who)
                .json(&json!({ "actual": [] }))
                .send()
                .await
                .expect("sent")
                .status()
        }
    };
    let platform = platform_for(&app.db, &[]).await;
    let robot = platform
        .keys
        .create_service_account(&console(), "acme", "default", "robot", "test", "jobs")
        .await
        .expect("service account");
    let scopes = vec!["platform.decisions.check".into()];
    let other = NewKey {
        holder: KeyHolder::ServiceAccount(robot.id),
        name: "other".into(),
        scopes,
        model_allowlist: None,
        expires_at: None,
    };
    let other = platform
        .keys
        .issue_key(&console(), other)
        .await
        .expect("key")
        .secret;
    app.wait_for_key(&other).await;
    assert_eq!(
        settle(other).await,
        404,
        "another caller is told there is no such reservation"
    );
    assert_eq!(settle(key.clone()).await, 204);
    assert_eq!(settle(key.clone()).await, 404, "settled once");
    let free: Json = decide(
        &app.client,
        &app.address,
        &key,
        &body(&org, CONCURRENT, false),
    )
    .await
    .json()
    .await
    .expect("json");
    assert!(admitted(&free), "settling freed the slot: {free}");
    let rest = held.chunk().await.expect("the stream ends cleanly");
    assert!(
        rest.is_none_or(|b| b.iter().all(|c| *c == b'\n')),
        "only heartbeats follow"
    );
}

#[tokio::test]
async fn a_change_through_one_process_is_enforced_by_another_within_a_second() {
    let db = tokio::task::spawn_blocking(TestDb::create)
        .await
        .expect("db");
    let (org, key) = set_up(&db, vec![limit(RPM, 1_000_000)]).await;
    let (a, b) = (
        ServerProcess::start(&db, &[]),
        ServerProcess::start(&db, &[]),
    );
    let (base_a, base_b) = (
        a.url.trim_end_matches('/').to_owned(),
        b.url.trim_end_matches('/').to_owned(),
    );
    let http = reqwest::Client::new();
    let allowed = first_answer(&http, &base_b, &key, &body(&org, RPM, false)).await;
    assert!(admitted(&allowed), "{allowed}");
    first_answer(&http, &base_a, &key, &body(&org, RPM, false)).await;

    let narrowing = json!({
        "level": "project", "organization": "acme", "project": "default",
        "dimension": RPM, "value": { "kind": "not_entitled" }, "reason": "suspended for review",
    });
    let set = http
        .post(format!("{base_a}/api/v1/policy/overrides"))
        .bearer_auth(&key)
        .json(&narrowing)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        set.status(),
        201,
        "{}",
        set.text().await.unwrap_or_default()
    );
    let refused = |a: &Json| a["reason"] == "entitlement_missing";
    let within = Duration::from_secs(3);
    let took = until(
        (&http, &base_b, &key),
        &body(&org, RPM, false),
        within,
        refused,
    )
    .await;
    println!("enforced by the second process {took:?} after the first answered");
}

#[tokio::test]
async fn a_decision_names_the_entitlement_a_project_lacks_and_refuses_an_undeclared_one() {
    let app = TestApp::spawn().await;
    let (org, key) = set_up(&app.db, vec![limit(RPM, 1_000)]).await;
    first_answer(&app.client, &app.address, &key, &body(&org, RPM, false)).await;
    let asking = |entitlements: Json| {
        let mut asked = body(&org, RPM, false);
        asked["entitlements"] = entitlements;
        asked
    };

    let held = asking(json!(["token_factory.project_inference"]));
    let lacking = asking(json!([
        "token_factory.project_inference",
        "token_factory.premium_models"
    ]));
    let undeclared = asking(json!(["token_factory.flying"]));
    let too_many = asking(json!(vec!["token_factory.access"; 9]));
    let mut answers = Vec::new();
    for asked in [&held, &lacking, &undeclared] {
        let res = decide(&app.client, &app.address, &key, asked).await;
        answers.push(res.json::<Json>().await.expect("json"));
    }
    let [held, lacking, undeclared] = <[Json; 3]>::try_from(answers).expect("three answers");

    assert!(admitted(&held), "{held}");
    assert_eq!(
        (lacking["reason"].clone(), lacking["entitlement"].clone()),
        (
            json!("entitlement_missing"),
            json!("token_factory.premium_models")
        ),
        "{lacking}"
    );
    assert_eq!(
        (
            undeclared["reason"].clone(),
            undeclared["entitlement"].clone()
        ),
        (json!("hard_deny"), json!("token_factory.flying")),
        "{undeclared}"
    );
    let res = decide(&app.client, &app.address, &key, &too_many).await;
    assert_eq!(res.status(), 422);
}
