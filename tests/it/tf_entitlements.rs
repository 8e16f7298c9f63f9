//! The gateway asks policy for the packet's entitlements on every request: premium models
//! need `token_factory.premium_models`, every call `token_factory.access` and
//! `token_factory.project_inference`. Operators grant and withhold them over the policy
//! API; a tenant may withhold within its scope but not widen past its parent or lift what
//! an operator set.

use std::time::Duration;

use aicloud::products::token_factory::Catalog;
use serde_json::{Value, json};

use crate::tf_support::{Gate, chat_model, endpoint, error_of};

const PREMIUM: &str = "token_factory.premium_models";
const INFERENCE_ON: &str = "token_factory.project_inference";
const ACCESS: &str = "token_factory.access";

/// Sends `body` to `/api/v1/policy/entitlements` with `key`.
async fn set(gate: &Gate, key: &str, body: Value) -> reqwest::Response {
    gate.app
        .client
        .post(gate.app.url("/api/v1/policy/entitlements"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("sent")
}

async fn clear(gate: &Gate, key: &str, id: &str) -> reqwest::Response {
    gate.app
        .client
        .delete(gate.app.url(&format!("/api/v1/policy/entitlements/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("sent")
}

fn at_project(entitlement: &str, granted: bool) -> Value {
    json!({
        "entitlement": entitlement, "level": "project", "organization": "acme",
        "project": "default", "granted": granted, "reason": "test",
    })
}

/// The status and JSON body of a platform API answer.
async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// Sends a chat request for `model` until its status is `wanted` (the server hears of a
/// policy change through NOTIFY), failing after three seconds; returns the last answer.
async fn chat_until(gate: &Gate, model: &str, wanted: u16) -> reqwest::Response {
    for _ in 0..150 {
        let res = gate
            .post("/chat/completions", &Gate::chat(model, "hi"))
            .await;
        if res.status().as_u16() == wanted {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("`{model}` never answered {wanted}");
}

async fn listed(gate: &Gate) -> Vec<String> {
    let list: Value = gate.models().await;
    list["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect()
}

async fn with_premium_model(gate: &Gate) {
    let mut premium = chat_model("premium", vec![endpoint("primary", &gate.mock.base_url)]);
    premium.premium = true;
    gate.products
        .token_factory
        .add_model(&crate::policy_support::console(), premium)
        .await
        .expect("model");
}

#[tokio::test]
async fn a_premium_model_is_served_once_an_operator_grants_it_and_not_before() {
    let gate = Gate::start().await;
    with_premium_model(&gate).await;
    let (status, error) = error_of(chat_until(&gate, "premium", 403).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (403, Some("model_not_entitled"))
    );
    assert!(!listed(&gate).await.contains(&"premium".to_owned()));

    let tenant = gate.acme_admin_key().await;
    let (status, refused) = answer(set(&gate, &tenant, at_project(PREMIUM, true)).await).await;
    assert_eq!(status, 403, "a tenant granted itself premium: {refused}");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("only platform authority")),
        "{refused}"
    );

    let operator = gate.app.admin_key().await.to_owned();
    let (status, granted) = answer(set(&gate, &operator, at_project(PREMIUM, true)).await).await;
    assert_eq!(status, 201, "{granted}");
    assert_eq!(
        (granted["granted"].clone(), granted["imposed"].clone()),
        (json!(true), json!(true))
    );

    let served = chat_until(&gate, "premium", 200).await;
    assert_eq!(served.status(), 200);
    assert_eq!(gate.mock.count("/v1/chat/completions"), 1);
    assert!(listed(&gate).await.contains(&"premium".to_owned()));
    let audited = gate.scalar(&format!(
        "SELECT count(*)::text AS n FROM audit.events \
         WHERE action = 'platform.policy.entitlement_changed' AND target_id = '{}'",
        granted["id"].as_str().expect("id")
    ));
    assert_eq!(audited, "1");
}

#[tokio::test]
async fn withholding_inference_freezes_a_projects_traffic_until_the_setting_is_cleared() {
    let gate = Gate::start().await;
    let tenant = gate.acme_admin_key().await;
    let (status, withheld) =
        answer(set(&gate, &tenant, at_project(INFERENCE_ON, false)).await).await;
    assert_eq!(status, 201, "{withheld}");
    assert_eq!(withheld["imposed"], json!(false));

    let (status, error) = error_of(chat_until(&gate, "mock", 403).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (403, Some("project_not_entitled"))
    );
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains(INFERENCE_ON)),
        "{error}"
    );
    assert_eq!(gate.mock.count("/v1/chat/completions"), 0);
    assert_eq!(gate.usage_count(), 0);

    let id = withheld["id"].as_str().expect("id");
    let (status, cleared) = answer(clear(&gate, &tenant, id).await).await;
    assert_eq!(status, 200, "{cleared}");
    chat_until(&gate, "mock", 200).await;
}

#[tokio::test]
async fn a_tenant_cannot_lift_what_an_operator_withheld() {
    let gate = Gate::start().await;
    let operator = gate.app.admin_key().await.to_owned();
    let suspend = json!({
        "entitlement": ACCESS, "level": "organization", "organization": "acme",
        "granted": false, "reason": "unpaid invoice",
    });
    let (status, withheld) = answer(set(&gate, &operator, suspend).await).await;
    assert_eq!(status, 201, "{withheld}");
    let (status, error) = error_of(chat_until(&gate, "mock", 403).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (403, Some("project_not_entitled"))
    );

    let tenant = gate.acme_admin_key().await;
    let id = withheld["id"].as_str().expect("id");
    let (status, refused) = answer(clear(&gate, &tenant, id).await).await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("only platform authority may change or clear it")),
        "{refused}"
    );
    let lift = json!({
        "entitlement": ACCESS, "level": "organization", "organization": "acme",
        "granted": true, "reason": "we paid",
    });
    let (status, refused) = answer(set(&gate, &tenant, lift).await).await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.contains("set here by a platform operator")),
        "{refused}"
    );
    let (status, wrong_level) = answer(set(&gate, &tenant, at_project(ACCESS, true)).await).await;
    assert_eq!(
        status, 422,
        "an organization's entitlement set per project: {wrong_level}"
    );
    let (status, narrowed) =
        answer(set(&gate, &tenant, at_project(INFERENCE_ON, true)).await).await;
    assert_eq!(
        status, 201,
        "granting what the parent gives is a tenant's: {narrowed}"
    );
    gate.policy_heard().await;
    let res = gate
        .post("/chat/completions", &Gate::chat("mock", "hi"))
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(gate.mock.count("/v1/chat/completions"), 0);

    assert_eq!(clear(&gate, &operator, id).await.status(), 200);
    chat_until(&gate, "mock", 200).await;
}

#[tokio::test]
async fn an_unknown_entitlement_or_one_with_control_characters_is_refused_and_changes_nothing() {
    let gate = Gate::start().await;
    let operator = gate.app.admin_key().await.to_owned();
    for entitlement in ["token_factory.no_such_thing", "token_factory.premium\u{7}"] {
        let (status, problem) =
            answer(set(&gate, &operator, at_project(entitlement, true)).await).await;
        assert_eq!(status, 422, "{problem}");
    }
    let live = gate.scalar("SELECT count(*)::text AS n FROM policy.entitlement_settings");
    assert_eq!(live, "0");
}
