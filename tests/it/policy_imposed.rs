//! An override set with platform authority is imposed: an organization's administrator,
//! who may write policy in it, can narrow beneath it but can neither clear nor replace it.

use serde_json::{Value, json};

use crate::policy_support::{RPM, limit};
use crate::tf_support::Gate;

async fn send(gate: &Gate, key: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let url = gate.app.url(path);
    let request = match method {
        "POST" => gate.app.client.post(url).json(&body),
        "DELETE" => gate.app.client.delete(url),
        _ => gate.app.client.get(url),
    };
    let res = request.bearer_auth(key).send().await.expect("sent");
    let status = res.status().as_u16();
    let mut answer: Value = res.json().await.unwrap_or_default();
    answer["status"] = json!(status);
    answer
}

fn at_org(n: u64, reason: &str) -> Value {
    json!({
        "level": "organization", "organization": "acme", "dimension": RPM,
        "value": { "kind": "limit", "amount": n }, "reason": reason,
    })
}

/// The organization's overrides that apply now.
async fn live_overrides(gate: &Gate, key: &str) -> Vec<Value> {
    let path = "/api/v1/policy/overrides?organization=acme";
    let page = send(gate, key, "GET", path, None).await;
    let items = page["items"].as_array().expect("a page");
    items
        .iter()
        .filter(|o| o["live"] == json!(true))
        .cloned()
        .collect()
}

/// The organization's overrides that apply now, as (value, imposed).
async fn live(gate: &Gate, key: &str) -> Vec<(Value, Value)> {
    let overrides = live_overrides(gate, key).await;
    overrides
        .iter()
        .map(|o| (o["value"]["amount"].clone(), o["imposed"].clone()))
        .collect()
}

fn changes(gate: &Gate) -> String {
    gate.scalar(
        "SELECT count(*)::text AS n FROM audit.events \
         WHERE action = 'platform.policy.override_changed'",
    )
}

#[tokio::test]
async fn a_tenant_cannot_clear_or_replace_an_override_an_operator_imposed() {
    let gate = Gate::start().await;
    gate.plan(vec![limit(RPM, 100)]).await;
    let operator = gate.app.admin_key().await.to_owned();
    let tenant = gate.acme_admin_key().await;

    let imposed = send(
        &gate,
        &operator,
        "POST",
        "/api/v1/policy/overrides",
        Some(at_org(1, "abuse")),
    )
    .await;
    assert_eq!(
        (&imposed["status"], &imposed["imposed"]),
        (&json!(201), &json!(true)),
        "{imposed}"
    );
    let id = imposed["id"].as_str().expect("id");
    let audited = changes(&gate);

    let cleared = send(
        &gate,
        &tenant,
        "DELETE",
        &format!("/api/v1/policy/overrides/{id}"),
        None,
    )
    .await;
    assert_eq!(cleared["status"], 403, "{cleared}");
    assert!(
        cleared["detail"]
            .as_str()
            .is_some_and(|d| d.contains("set here by a platform operator")),
        "{cleared}"
    );
    let lifted = send(
        &gate,
        &tenant,
        "POST",
        "/api/v1/policy/overrides",
        Some(at_org(50, "we fixed it")),
    )
    .await;
    assert_eq!(lifted["status"], 403, "{lifted}");
    assert_eq!(live(&gate, &tenant).await, [(json!(1), json!(true))]);
    assert_eq!(changes(&gate), audited, "a refused change is not audited");

    // Beneath it the tenant narrows as before, and owns what it set.
    let mut narrower = at_org(1, "our own cap");
    narrower["level"] = json!("project");
    narrower["project"] = json!("default");
    let own = send(
        &gate,
        &tenant,
        "POST",
        "/api/v1/policy/overrides",
        Some(narrower),
    )
    .await;
    assert_eq!(
        (&own["status"], &own["imposed"]),
        (&json!(201), &json!(false)),
        "{own}"
    );
    let own_id = own["id"].as_str().expect("id");
    let path = format!("/api/v1/policy/overrides/{own_id}");
    assert_eq!(
        send(&gate, &tenant, "DELETE", &path, None).await["status"],
        200
    );

    let path = format!("/api/v1/policy/overrides/{id}");
    assert_eq!(
        send(&gate, &operator, "DELETE", &path, None).await["status"],
        200
    );
    assert!(live(&gate, &tenant).await.is_empty());
}

#[tokio::test]
async fn a_tenant_replaces_its_own_override_and_the_operator_may_replace_it_too() {
    let gate = Gate::start().await;
    gate.plan(vec![limit(RPM, 100)]).await;
    let operator = gate.app.admin_key().await.to_owned();
    let tenant = gate.acme_admin_key().await;
    let post = |key: &str, body: Value| {
        let key = key.to_owned();
        let gate = &gate;
        async move { send(gate, &key, "POST", "/api/v1/policy/overrides", Some(body)).await }
    };

    assert_eq!(post(&tenant, at_org(20, "budget")).await["status"], 201);
    assert_eq!(post(&tenant, at_org(10, "tighter")).await["status"], 201);
    assert_eq!(live(&gate, &tenant).await, [(json!(10), json!(false))]);
    let replaced = post(&operator, at_org(5, "abuse")).await;
    assert_eq!(replaced["status"], 201, "{replaced}");
    assert_eq!(live(&gate, &tenant).await, [(json!(5), json!(true))]);
    assert_eq!(
        post(&tenant, at_org(3, "tighter still")).await["status"],
        403
    );
}

/// Writers at one slot queue, so the second is judged by what the first wrote (an
/// operator's override refuses a tenant with 403) and nobody sees a bare 409 from the
/// slot's unique index.
#[tokio::test]
async fn concurrent_first_writes_at_one_slot_settle_as_if_they_had_queued() {
    let gate = Gate::start().await;
    gate.plan(vec![limit(RPM, 100)]).await;
    let operator = gate.app.admin_key().await.to_owned();
    let tenant = gate.acme_admin_key().await;
    let path = "/api/v1/policy/overrides";

    let tenants = (1..=6).map(|n| send(&gate, &tenant, "POST", path, Some(at_org(n, "budget"))));
    let statuses: Vec<Value> = futures_util::future::join_all(tenants)
        .await
        .into_iter()
        .map(|answer| answer["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(201); 6]);
    assert_eq!(
        live(&gate, &tenant).await.len(),
        1,
        "one live override per slot"
    );

    for round in 0..4 {
        let mut body = at_org(1, "race");
        body["level"] = json!("project");
        body["project"] = json!("default");
        let mut ours = body.clone();
        ours["value"]["amount"] = json!(2 + round);
        let (theirs, mine) = tokio::join!(
            send(&gate, &operator, "POST", path, Some(body)),
            send(&gate, &tenant, "POST", path, Some(ours)),
        );
        assert_eq!(theirs["status"], 201, "{theirs}");
        assert!(
            [201, 403].contains(&mine["status"].as_u64().unwrap_or(0)),
            "{mine}"
        );
        clear_project_slot(&gate, &operator).await;
    }
}

async fn clear_project_slot(gate: &Gate, operator: &str) {
    let overrides = live_overrides(gate, operator).await;
    for o in overrides.iter().filter(|o| o["level"] == json!("project")) {
        let id = o["id"].as_str().expect("id");
        let path = format!("/api/v1/policy/overrides/{id}");
        assert_eq!(
            send(gate, operator, "DELETE", &path, None).await["status"],
            200
        );
    }
}
