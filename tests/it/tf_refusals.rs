//! What the gateway refuses, each with the status, type and code OpenAI answers the same
//! situation with, and nothing billed.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::policy_support::{MONTHLY, RPM, TPM, console, limit};
use crate::tf_support::{Gate, INFERENCE, MODELS_READ, chat_model, endpoint, error_of};
use aicloud::products::token_factory::Catalog;

/// The first of up to `tries` small chat requests that is refused 429.
async fn first_429(gate: &Gate, tries: usize) -> Option<reqwest::Response> {
    for _ in 0..tries {
        let res = gate
            .post("/chat/completions", &Gate::chat("mock", "a"))
            .await;
        if res.status() == 429 {
            return Some(res);
        }
    }
    None
}

#[tokio::test]
async fn no_key_a_bad_key_and_a_revoked_key_get_401_as_from_openai() {
    let gate = Gate::start().await;
    let body = Gate::chat("mock", "hi");

    let none = gate
        .app
        .client
        .post(gate.app.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    let bad = gate
        .post_with("aic_000000000000_nonsense", "/chat/completions", &body)
        .await;
    let refused_usage = gate.usage_count();
    let key = gate.issue(&[INFERENCE, MODELS_READ], None).await;
    let prefix = key.split('_').nth(1).expect("prefix").to_owned();
    gate.platform
        .keys
        .revoke_key(&console(), &prefix)
        .await
        .expect("revoked");
    let mut revoked = None;
    for _ in 0..100 {
        let res = gate.post_with(&key, "/chat/completions", &body).await;
        if res.status() == 401 {
            revoked = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, error) = error_of(none).await;
    assert_eq!(
        (status, error["type"].as_str()),
        (401, Some("invalid_request_error"))
    );
    assert!(
        error["code"].is_null()
            && error["message"]
                .as_str()
                .expect("text")
                .contains("didn't provide an API key")
    );
    let (status, error) = error_of(bad).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    assert!(
        !error["message"]
            .as_str()
            .expect("text")
            .contains("nonsense"),
        "never echo a secret: {error}"
    );
    let (status, error) = error_of(revoked.expect("revoked within 2 s")).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    assert_eq!(refused_usage, 0, "refused requests are not billed");
}

#[tokio::test]
async fn a_key_without_the_inference_scope_or_the_model_is_refused() {
    let gate = Gate::start().await;
    let reader = gate.issue(&[MODELS_READ], None).await;
    let echo_only = gate
        .issue(&[INFERENCE, MODELS_READ], Some(vec!["demo-echo".into()]))
        .await;

    let (status, error) = error_of(
        gate.post_with(&reader, "/chat/completions", &Gate::chat("mock", "hi"))
            .await,
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (401, Some("insufficient_permissions"))
    );
    let (status, error) = error_of(
        gate.post_with(&echo_only, "/chat/completions", &Gate::chat("mock", "hi"))
            .await,
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str(), error["param"].as_str()),
        (404, Some("model_not_found"), Some("model"))
    );
    let list: serde_json::Value = gate
        .app
        .client
        .get(gate.app.url("/v1/models"))
        .bearer_auth(&echo_only)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "only what the key may use: {list}"
    );
    let (status, _) = error_of(
        gate.post("/chat/completions", &Gate::chat("no-such-model", "hi"))
            .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(gate.mock.count("/v1/chat/completions"), 0);
}

#[tokio::test]
async fn input_beyond_the_models_context_is_refused_before_forwarding() {
    let gate = Gate::start().await;
    let mut small = chat_model("small", vec![endpoint("primary", &gate.mock.base_url)]);
    small.context_length = 30;
    small.max_output_tokens = 10;
    gate.products
        .token_factory
        .add_model(&console(), small)
        .await
        .expect("model");
    gate.until_listed("small").await;

    let long = "many words ".repeat(40);
    let res = gate
        .post(
            "/chat/completions",
            &json!({"model": "small", "messages": [{"role": "user", "content": long}]}),
        )
        .await;
    let (status, error) = error_of(res).await;
    assert_eq!(
        (status, error["code"].as_str(), error["param"].as_str()),
        (400, Some("context_length_exceeded"), Some("messages"))
    );
    let too_many = gate.post("/chat/completions", &json!({"model": "small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 11})).await;
    let (status, error) = error_of(too_many).await;
    assert_eq!((status, error["param"].as_str()), (400, Some("max_tokens")));
    assert_eq!(gate.mock.count("/v1/chat/completions"), 0);
    assert_eq!(gate.usage_count(), 0);
}

#[tokio::test]
async fn the_request_rate_answers_429_with_retry_after_and_the_rate_limit_headers() {
    let gate = Gate::start().await;
    gate.plan(vec![limit(RPM, 2)]).await;

    // Two requests per 2 s refill one a second, so a third is refused only within a second
    // of the first: sent together, the three are, however loaded the machine.
    let (one, two, three) = (
        Gate::chat("mock", "one"),
        Gate::chat("mock", "two"),
        Gate::chat("mock", "three"),
    );
    let answers = [
        gate.post("/chat/completions", &one),
        gate.post("/chat/completions", &two),
        gate.post("/chat/completions", &three),
    ];
    let (served, mut refused): (Vec<_>, Vec<_>) = futures_util::future::join_all(answers)
        .await
        .into_iter()
        .partition(|res| res.status() == 200);

    assert_eq!(
        (served.len(), refused.len()),
        (2, 1),
        "two served, one refused"
    );
    let mut remaining: Vec<String> = served
        .iter()
        .map(|res| {
            assert_eq!(res.headers()["x-ratelimit-limit-requests"], "2");
            assert!(res.headers().contains_key("x-ratelimit-reset-requests"));
            header(res, "x-ratelimit-remaining-requests")
        })
        .collect();
    remaining.sort();
    assert_eq!(remaining, ["0", "1"]);
    let third = refused.remove(0);
    let headers = third.headers().clone();
    let (status, error) = error_of(third).await;
    assert_eq!(
        (status, error["type"].as_str(), error["code"].as_str()),
        (429, Some("requests"), Some("rate_limit_exceeded"))
    );
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "window is 2 s: {retry}");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    assert_eq!(gate.mock.count("/v1/chat/completions"), 2);
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()[name].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn the_token_rate_answers_429_of_type_tokens() {
    let gate = Gate::start().await;
    // A request reserves its input and max_tokens (80 and a few) until it completes. The
    // provider holds the first answer, so its whole reservation is in the 100-token window
    // when the second asks; the window drains 50 tokens a second, so the second is refused
    // unless more than 1.5 s pass between the two, however loaded the machine.
    gate.plan(vec![limit(TPM, 100)]).await;
    gate.mock.behaviour.hold.store(true, Ordering::SeqCst);
    let mut body = Gate::chat("mock", "a");
    body["max_tokens"] = json!(80);

    let (first, second) = tokio::join!(gate.post("/chat/completions", &body), async {
        until_forwarded(&gate, 1).await;
        let second = gate.post("/chat/completions", &body).await;
        gate.mock.release.notify_one();
        second
    });
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit-tokens"], "100");
    assert_eq!(second.status(), 429, "a request over the token rate");
    assert!(second.headers().contains_key("retry-after"));
    assert!(second.headers().contains_key("x-ratelimit-reset-tokens"));
    let (_, error) = error_of(second).await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("tokens"), Some("rate_limit_exceeded"))
    );
    assert_eq!(gate.mock.count("/v1/chat/completions"), 1);
}

/// Waits until the provider has been asked `n` chat completions.
async fn until_forwarded(gate: &Gate, n: usize) {
    for _ in 0..250 {
        if gate.mock.count("/v1/chat/completions") >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the provider was not asked {n} chat completions within 5 s");
}

#[tokio::test]
async fn an_exhausted_monthly_quota_is_insufficient_quota_and_not_retried() {
    let gate = Gate::start().await;
    gate.plan(vec![limit(MONTHLY, 40)]).await;

    assert_eq!(
        gate.post("/chat/completions", &Gate::chat("mock", "a"))
            .await
            .status(),
        200
    );
    let res = first_429(&gate, 3).await.expect("the quota runs out");
    assert_eq!(res.headers()["x-should-retry"], "false");
    let (_, error) = error_of(res).await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("insufficient_quota"), Some("insufficient_quota"))
    );
}

#[tokio::test]
async fn an_exhausted_balance_is_insufficient_quota_and_nothing_is_forwarded() {
    let gate = Gate::start().await;
    let broke = gate
        .platform
        .iam
        .create_organization(
            &console(),
            "broke",
            "Broke",
            aicloud::platform::iam::OrgKind::Team,
            None,
        )
        .await
        .expect("org");
    let sa = gate
        .platform
        .keys
        .create_service_account(&console(), "broke", "default", "app", "tests", "calls")
        .await
        .expect("sa");
    let key = aicloud::platform::iam::NewKey {
        holder: aicloud::platform::iam::KeyHolder::ServiceAccount(sa.id),
        name: "k".into(),
        scopes: vec![INFERENCE.into(), MODELS_READ.into()],
        model_allowlist: None,
        expires_at: None,
    };
    let secret = gate
        .platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("key")
        .secret;
    let _ = broke;
    let mut answer = None;
    for _ in 0..100 {
        let res = gate
            .post_with(&secret, "/chat/completions", &Gate::chat("mock", "hi"))
            .await;
        if res.status() != 401 {
            answer = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let res = answer.expect("the key became known");
    assert_eq!(res.headers()["x-should-retry"], "false");
    let (status, error) = error_of(res).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (429, Some("insufficient_quota"))
    );
    assert_eq!(gate.mock.count("/v1/chat/completions"), 0);
}

#[tokio::test]
async fn a_malformed_body_and_an_unknown_route_answer_openais_error_shape() {
    let gate = Gate::start().await;

    let bad_json = gate
        .app
        .client
        .post(gate.app.url("/v1/chat/completions"))
        .bearer_auth(&gate.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    let unknown = gate.post("/nothing/here", &json!({})).await;
    let range = gate.post("/chat/completions", &json!({"model": "mock", "messages": [{"role": "user", "content": "x"}], "temperature": 3})).await;

    assert_eq!(error_of(bad_json).await.0, 400);
    assert_eq!(error_of(unknown).await.0, 404);
    let (status, error) = error_of(range).await;
    assert_eq!(
        (status, error["param"].as_str(), error["code"].as_str()),
        (400, Some("temperature"), Some("decimal_above_max_value"))
    );
}

#[tokio::test]
async fn a_large_body_is_read_off_the_workers_and_answered_as_a_small_one_would_be() {
    let gate = Gate::start().await;
    // Past 64 KiB a body is parsed on a blocking thread: the answers must not change.
    let long = "many words ".repeat(20_000);
    let valid = json!({"model": "mock", "messages": [{"role": "user", "content": long}]});
    let mut broken = valid.to_string();
    broken.truncate(broken.len() - 3);
    let raw = |body: String| {
        gate.app
            .client
            .post(gate.app.url("/v1/chat/completions"))
            .bearer_auth(&gate.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let (status, too_long) = error_of(gate.post("/chat/completions", &valid).await).await;
    let (broken_status, unparsable) = error_of(raw(broken).await.expect("sent")).await;

    assert!(valid.to_string().len() > 200_000);
    assert_eq!(
        (
            status,
            too_long["code"].as_str(),
            too_long["param"].as_str()
        ),
        (400, Some("context_length_exceeded"), Some("messages"))
    );
    assert_eq!(broken_status, 400, "{unparsable}");
    assert_eq!(unparsable["type"], "invalid_request_error");
    assert!(
        unparsable["message"]
            .as_str()
            .is_some_and(|m| m.contains("column")),
        "{unparsable}"
    );
    assert_eq!(gate.mock.count("/v1/chat/completions"), 0);
}

#[tokio::test]
async fn the_gateway_refuses_to_serve_until_its_packet_is_onboarded() {
    let app = crate::helpers::TestApp::spawn().await;

    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .json(&Gate::chat("demo-echo", "hi"))
        .send()
        .await
        .expect("sent");

    let (status, error) = error_of(res).await;
    assert_eq!(
        (status, error["type"].as_str()),
        (503, Some("server_error"))
    );
    let message = error["message"].as_str().expect("message");
    assert!(
        message.contains("Token Factory is not onboarded"),
        "{message}"
    );
}
