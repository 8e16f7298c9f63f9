//! Token Factory's gateway end to end against a mock provider on a random port: OpenAI's
//! response bodies field by field, streaming as it arrives, usage billed once per request.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::tf_support::{Gate, error_of, request_id};

#[tokio::test]
async fn a_plain_chat_answers_openais_shape_and_bills_the_providers_usage_under_its_request_id() {
    let gate = Gate::start().await;

    let res = gate
        .post("/chat/completions", &Gate::chat("mock", "hello there"))
        .await;

    assert_eq!(res.status(), 200);
    let request_id = request_id(&res);
    assert!(
        request_id.starts_with("req_") && request_id.len() == 36,
        "{request_id}"
    );
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["model"], "mock",
        "the catalog id, not the upstream's name"
    );
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["content"], "word word word word word");
    assert!(choice["logprobs"].is_null() && choice.get("logprobs").is_some());
    assert_eq!(body["usage"]["prompt_tokens"], 11);
    assert_eq!(
        gate.mock.last("/v1/chat/completions")["model"],
        "upstream-model"
    );
    assert_eq!(
        gate.usage_of(&request_id),
        vec![
            ("input_tokens".into(), "11".into()),
            ("output_tokens".into(), "5".into()),
            ("requests".into(), "1".into())
        ]
    );
    // Its analytics row, written off the request path within the flush interval.
    let analytics = format!(
        "SELECT coalesce(max(concat_ws(' ', route, model, status, stream, input_tokens, output_tokens, \
           estimated, upstream_input_tokens, upstream_output_tokens, \
           counted_input_tokens IS NOT NULL, coalesce(error_code, '-'), \
           latency_us >= overhead_us)), '') AS n \
         FROM token_factory.requests WHERE request_id = '{request_id}'"
    );
    let mut row = String::new();
    for _ in 0..50 {
        row = gate.scalar(&analytics);
        if !row.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(row, "/chat/completions mock 200 f 11 5 f 11 5 t - t");
}

#[tokio::test]
async fn the_demo_model_answers_with_no_provider_at_all() {
    let gate = Gate::start().await;

    let res = gate
        .post("/chat/completions", &Gate::chat("demo-echo", "ping pong"))
        .await;

    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "ping pong");
    assert!(body["choices"][0]["message"]["refusal"].is_null());
    assert_eq!(body["usage"]["completion_tokens"], 2);
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );
}

/// Reads SSE `data:` payloads until `[DONE]` or the end.
async fn events(res: reqwest::Response) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if let Some(data) = event.trim().strip_prefix("data: ") {
                out.push(data.to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_stream_strips_the_usage_the_gateway_asked_for_unless_the_client_asked_too() {
    let gate = Gate::start().await;
    let mut request = Gate::chat("mock", "hi");
    request["stream"] = json!(true);

    let plain = events(gate.post("/chat/completions", &request).await).await;
    request["stream_options"] = json!({"include_usage": true});
    let with_usage = events(gate.post("/chat/completions", &request).await).await;

    assert_eq!(
        gate.mock.last("/v1/chat/completions")["stream_options"]["include_usage"],
        true
    );
    assert_eq!(plain.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = plain[..plain.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("json"))
        .collect();
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "{chunks:?}"
    );
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "mock")
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "word word word word word");
    let usage: Value =
        serde_json::from_str(&with_usage[with_usage.len() - 2]).expect("usage chunk");
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    let other: Value = serde_json::from_str(&with_usage[1]).expect("chunk");
    assert!(other["usage"].is_null() && other.get("usage").is_some());
}

#[tokio::test]
async fn the_first_chunk_reaches_the_client_before_the_provider_has_finished() {
    let gate = Gate::start().await;
    gate.mock
        .behaviour
        .hold
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut request = Gate::chat("mock", "hi");
    request["stream"] = json!(true);

    let res = gate.post("/chat/completions", &request).await;
    let mut stream = res.bytes_stream();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("\"word\"") {
        assert!(
            Instant::now() < deadline,
            "no first word while the provider holds: {seen}"
        );
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a chunk in time");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.expect("open").expect("bytes"),
        ));
    }
    assert_eq!(
        gate.mock
            .completed
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the provider has not finished"
    );
    gate.mock.release.notify_one();
    let mut rest = String::new();
    while let Some(chunk) = stream.next().await {
        rest.push_str(&String::from_utf8_lossy(&chunk.expect("bytes")));
    }
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
}

/// Little-endian f32s, as OpenAI's base64 embeddings hold them.
fn floats_of(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[tokio::test]
async fn a_large_embeddings_answer_is_shaped_and_billed_whole() {
    // OpenAI's most inputs a request, 2,048: the mock's answer is about 130 KB, past what
    // is read on the HTTP worker.
    let gate = Gate::start().await;
    let inputs: Vec<String> = (0..2048).map(|i| format!("text {i}")).collect();

    let res = gate
        .post(
            "/embeddings",
            &json!({"model": "mock-embed", "input": inputs, "encoding_format": "base64"}),
        )
        .await;

    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let request_id = request_id(&res);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["model"], "mock-embed");
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2048);
    use base64::Engine;
    let last = base64::engine::general_purpose::STANDARD
        .decode(data[2047]["embedding"].as_str().expect("base64 string"))
        .expect("decodes");
    assert_eq!(floats_of(&last), vec![0.5, -0.25, 1.0]);
    let usage = gate.usage_of(&request_id);
    assert_eq!(usage[0], ("input_tokens".into(), "6144".into()));
}

#[tokio::test]
async fn completions_embeddings_and_models_answer_as_openai_does() {
    let gate = Gate::start().await;

    let completion: Value = gate
        .post(
            "/completions",
            &json!({"model": "mock", "prompt": "Say", "max_tokens": 5}),
        )
        .await
        .json()
        .await
        .expect("json");
    let floats: Value = gate
        .post(
            "/embeddings",
            &json!({"model": "mock-embed", "input": ["a", "b"]}),
        )
        .await
        .json()
        .await
        .expect("json");
    let encoded: Value = gate
        .post(
            "/embeddings",
            &json!({"model": "mock-embed", "input": "a", "encoding_format": "base64"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let list: Value = gate.models().await;
    let one = gate
        .app
        .client
        .get(gate.app.url("/v1/models/mock"))
        .bearer_auth(&gate.key)
        .send()
        .await
        .expect("sent");

    assert_eq!(completion["object"], "text_completion", "{completion}");
    assert_eq!(completion["choices"][0]["text"], " mock completion");
    assert_eq!(floats["data"][1]["embedding"], json!([0.5, -0.25, 1.0]));
    assert_eq!(floats["usage"]["prompt_tokens"], 6);
    assert!(
        gate.mock
            .last("/v1/embeddings")
            .get("encoding_format")
            .is_none()
    );
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(
            encoded["data"][0]["embedding"]
                .as_str()
                .expect("base64 string"),
        )
        .expect("decodes");
    assert_eq!(floats_of(&bytes), vec![0.5, -0.25, 1.0]);
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["demo-echo", "demo-embed", "mock", "mock-embed"]);
    assert_eq!(list["data"][2]["object"], "model");
    assert_eq!(one.status(), 200);
    let missing = gate
        .app
        .client
        .get(gate.app.url("/v1/models/nope"))
        .bearer_auth(&gate.key)
        .send()
        .await
        .expect("sent");
    let (status, error) = error_of(missing).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (404, Some("model_not_found"))
    );
}

#[tokio::test]
async fn usage_of_a_request_is_captured_once_however_often_its_commit_is_repeated() {
    let gate = Gate::start().await;
    let res = gate
        .post("/chat/completions", &Gate::chat("mock", "once"))
        .await;
    let request_id = request_id(&res);
    gate.posted().await;
    let before = gate.usage_count();
    let balance = gate
        .platform
        .ledger
        .balance(&crate::policy_support::console(), "acme")
        .await
        .expect("balance");

    // The gateway's commit, repeated as a retry after a lost answer repeats it: the same
    // request id, so the same idempotency keys.
    let events: Vec<aicloud::platform::billing::UsageEvent> = gate
        .scalar(&format!(
            "SELECT json_agg(json_build_object('event_id', event_id, 'product', product, 'unit', unit, \
             'quantity', quantity::text, 'organization_id', organization_id, 'department_id', department_id, \
             'project_id', project_id, 'actor', json_build_object('kind', actor_kind, 'id', actor_id), \
             'resource_type', resource_type, 'resource_id', resource_id, 'usage_source', usage_source, \
             'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             'correlation_id', correlation_id, 'attributes', attributes))::text AS n \
             FROM billing.usage_events WHERE event_id LIKE '{request_id}:%'"
        ))
        .parse::<Value>()
        .map(|v| serde_json::from_value(v).expect("events"))
        .expect("json");
    // Through the path the gateway uses (capture, posted behind) and the one that posts at
    // once: both know the keys.
    let metering = &gate.platform.metering;
    let console = crate::policy_support::console();
    let captured = metering.capture(&console, events.clone()).await;
    let ingested = metering.ingest(&console, events).await;

    for outcomes in [captured.expect("capture"), ingested.expect("ingest")] {
        assert!(
            outcomes
                .iter()
                .all(|o| o.outcome == aicloud::platform::billing::Outcome::Duplicate),
            "{outcomes:?}"
        );
    }
    gate.posted().await;
    assert_eq!(gate.usage_count(), before);
    let after = gate
        .platform
        .ledger
        .balance(&crate::policy_support::console(), "acme")
        .await
        .expect("balance");
    assert_eq!(after.available_minor, balance.available_minor);
}

#[tokio::test]
async fn the_usage_shows_in_the_organizations_statement_by_model() {
    let gate = Gate::start().await;
    for _ in 0..3 {
        assert_eq!(
            gate.post("/chat/completions", &Gate::chat("mock", "bill me"))
                .await
                .status(),
            200
        );
    }
    let period = aicloud::platform::billing::Period::of(time::OffsetDateTime::now_utc());
    gate.posted().await;

    let statement = gate
        .platform
        .statements
        .statement(&crate::policy_support::console(), "acme", period)
        .await
        .expect("statement");

    let line = |unit: &str| {
        statement
            .usage
            .iter()
            .find(|l| l.unit == unit && l.resource_id == "mock")
            .unwrap_or_else(|| panic!("no {unit} line: {:?}", statement.usage))
            .clone()
    };
    assert_eq!(line("token_factory.input_tokens").quantity, 33.into());
    assert_eq!(line("token_factory.output_tokens").quantity, 15.into());
    // 33 × 0.01 + 15 × 0.02 cents.
    let charged = line("token_factory.input_tokens").amount_minor
        + line("token_factory.output_tokens").amount_minor;
    assert_eq!(charged, "0.63".parse().expect("decimal"));
}

#[tokio::test]
async fn metrics_count_requests_tokens_rejections_and_latency_in_prometheus_text() {
    let gate = Gate::start().await;
    assert_eq!(
        gate.post("/chat/completions", &Gate::chat("mock", "hi"))
            .await
            .status(),
        200
    );
    assert_eq!(
        gate.post("/chat/completions", &Gate::chat("nope", "hi"))
            .await
            .status(),
        404
    );

    let res = gate
        .app
        .client
        .get(gate.app.url("/metrics"))
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("text");
    for line in [
        r#"token_factory_requests_total{model="mock",status="200"} 1"#,
        r#"token_factory_tokens_total{model="mock",direction="input"} 11"#,
        r#"token_factory_tokens_total{model="mock",direction="output"} 5"#,
        r#"token_factory_rejections_total{reason="model_not_found"} 1"#,
        r#"token_factory_request_duration_seconds_count{model="mock"} 1"#,
        "token_factory_in_flight 0",
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    assert!(
        text.contains("token_factory_gateway_overhead_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_are_refused_to_peers_the_settings_do_not_list() {
    let gate =
        Gate::start_configured(&[], |s| s.server.metrics_from = vec!["10.9.9.9".into()]).await;

    let res = gate
        .app
        .client
        .get(gate.app.url("/metrics"))
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn each_metered_request_is_announced_as_usage_recorded_with_its_usage() {
    let gate = Gate::start().await;
    let res = gate
        .post("/chat/completions", &Gate::chat("mock", "announce me"))
        .await;
    let request_id = request_id(&res);
    let refused = gate
        .post("/chat/completions", &Gate::chat("nope", "not metered"))
        .await;
    assert_eq!(refused.status(), 404);

    let mut announced = String::new();
    for _ in 0..100 {
        announced = gate.scalar(&format!(
            "SELECT coalesce(string_agg(r->>'input_tokens' || '/' || (r->>'output_tokens') || '/' || (r->>'model'), ','), '') AS n \
             FROM events.outbox o, jsonb_array_elements(o.payload->'requests') r \
             WHERE o.event_type = 'token_factory.usage.recorded' AND r->>'request_id' = '{request_id}'"
        ));
        if !announced.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(announced, "11/5/mock");
    let refusals = gate.scalar(
        "SELECT count(*)::text AS n FROM events.outbox o, jsonb_array_elements(o.payload->'requests') r \
         WHERE o.event_type = 'token_factory.usage.recorded' AND r->>'model' = 'nope'",
    );
    assert_eq!(refusals, "0", "a refused request is not metered");
}
