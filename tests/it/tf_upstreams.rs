//! Upstream failures and disconnects: a provider that is down bills nothing, the next
//! endpoint (or fallback model) serves, a client leaving mid-stream cancels the provider and
//! is billed once for what was produced, one leaving a plain request is billed for the whole
//! answer, a provider without usage is counted, and an endpoint out of rotation is out in
//! every server process.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::ServerProcess;
use crate::policy_support::{CONCURRENT, console, limit};
use crate::tf_mock::dead_url;
use crate::tf_support::{Gate, chat_model, endpoint, error_of, request_id};
use aicloud::products::token_factory::Catalog;

#[tokio::test]
async fn a_provider_that_is_down_answers_502_and_nothing_is_billed() {
    let gate = Gate::start().await;
    gate.mock.behaviour.fail.store(true, Ordering::SeqCst);
    let before = gate
        .platform
        .ledger
        .balance(&console(), "acme")
        .await
        .expect("balance");

    let res = gate
        .post("/chat/completions", &Gate::chat("mock", "hi"))
        .await;
    let dead = chat_model("dead", vec![endpoint("gone", &dead_url())]);
    gate.products
        .token_factory
        .add_model(&console(), dead)
        .await
        .expect("model");
    gate.until_listed("dead").await;
    let unreachable = gate
        .post("/chat/completions", &Gate::chat("dead", "hi"))
        .await;

    let (status, error) = error_of(res).await;
    assert_eq!(
        (status, error["type"].as_str()),
        (502, Some("server_error"))
    );
    assert_eq!(error_of(unreachable).await.0, 502);
    assert_eq!(
        gate.usage_count(),
        0,
        "nothing was produced, nothing is billed"
    );
    gate.posted().await;
    let funds = gate
        .platform
        .ledger
        .balance(&console(), "acme")
        .await
        .expect("balance");
    assert_eq!(funds.available_minor, before.available_minor);
}

#[tokio::test]
async fn the_next_endpoint_then_the_fallback_model_serve_when_one_fails() {
    let gate = Gate::start().await;
    let two = chat_model(
        "two",
        vec![
            endpoint("down", &dead_url()),
            endpoint("up", &gate.mock.base_url),
        ],
    );
    gate.products
        .token_factory
        .add_model(&console(), two)
        .await
        .expect("model");
    let mut lonely = chat_model("lonely", vec![endpoint("down", &dead_url())]);
    lonely.fallbacks = vec!["mock".into()];
    gate.products
        .token_factory
        .add_model(&console(), lonely)
        .await
        .expect("model");
    gate.until_listed("lonely").await;

    for _ in 0..4 {
        let res = gate
            .post("/chat/completions", &Gate::chat("two", "hi"))
            .await;
        assert_eq!(
            res.status(),
            200,
            "every request served, whichever endpoint it tried first"
        );
    }
    let res = gate
        .post("/chat/completions", &Gate::chat("lonely", "hi"))
        .await;
    assert_eq!(res.status(), 200);
    let request_id = request_id(&res);
    let body: serde_json::Value = res.json().await.expect("json");

    assert_eq!(body["model"], "lonely");
    assert_eq!(gate.mock.count("/v1/chat/completions"), 5);
    let served = gate.scalar(&format!(
        "SELECT attributes->>'endpoint' AS n FROM billing.usage_events WHERE event_id = '{request_id}:request'"
    ));
    assert_eq!(served, "mock/primary");
}

#[tokio::test]
async fn a_client_leaving_mid_stream_cancels_the_provider_and_is_billed_once_for_what_was_produced()
{
    let gate = Gate::start().await;
    gate.plan(vec![limit(CONCURRENT, 1)]).await;
    gate.mock.behaviour.hold.store(true, Ordering::SeqCst);
    gate.mock.behaviour.no_usage.store(true, Ordering::SeqCst);
    gate.mock.behaviour.words.store(200, Ordering::SeqCst);
    let mut request = Gate::chat("mock", "hi");
    request["stream"] = json!(true);
    request["max_tokens"] = json!(256);

    let res = gate.post("/chat/completions", &request).await;
    let request_id = request_id(&res);
    let mut stream = res.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\"word\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("in time");
        seen.push_str(&String::from_utf8_lossy(
            &chunk.expect("open").expect("bytes"),
        ));
    }
    drop(stream);
    // The provider goes on; the gateway finds the client gone at its next write.
    gate.mock.release.notify_one();

    let mut cancelled = 0;
    for _ in 0..100 {
        cancelled = gate.mock.cancelled.load(Ordering::SeqCst);
        if cancelled == 1 && !gate.usage_of(&request_id).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cancelled, 1, "the provider's stream was cancelled");
    let usage = gate.usage_of(&request_id);
    let sent = gate.mock.words_at_cancel.load(Ordering::SeqCst);
    let billed: usize = usage
        .iter()
        .find(|(u, _)| u == "output_tokens")
        .map(|(_, q)| q.parse().expect("number"))
        .expect("output billed");
    assert!(sent < 200, "cancelled before the end: {sent} words sent");
    assert!(
        (1..=sent).contains(&billed),
        "billed {billed} of the {sent} words produced"
    );
    assert_eq!(usage.iter().filter(|(u, _)| u == "requests").count(), 1);
    let estimated = gate.scalar(&format!(
        "SELECT attributes->>'estimated' AS n FROM billing.usage_events WHERE event_id = '{request_id}:output'"
    ));
    assert_eq!(
        estimated, "true",
        "no usage from the provider: the gateway counted"
    );
    gate.mock.behaviour.hold.store(false, Ordering::SeqCst);
    assert_slot_freed(&gate).await;
}

/// The slot is freed when the request's end has run, just after its usage commits, so the
/// next request may find it still taken for a moment.
async fn assert_slot_freed(gate: &Gate) {
    let mut status = 0;
    for _ in 0..100 {
        let next = gate
            .post("/chat/completions", &Gate::chat("mock", "again"))
            .await;
        status = next.status().as_u16();
        if status != 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "the concurrency slot was freed");
}

/// A client that sends a plain chat request on a socket of its own and closes it once the
/// provider has the request, before any answer.
async fn leave_after_sending(gate: &Gate, body: &serde_json::Value) {
    use tokio::io::AsyncWriteExt;
    let before = gate.mock.count("/v1/chat/completions");
    let host = gate.app.address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(host)
        .await
        .expect("connects");
    let body = body.to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        gate.key,
        body.len()
    );
    socket.write_all(head.as_bytes()).await.expect("head");
    socket.write_all(body.as_bytes()).await.expect("body");
    for _ in 0..250 {
        if gate.mock.count("/v1/chat/completions") > before {
            drop(socket);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the provider never got the request");
}

#[tokio::test]
async fn a_client_leaving_a_plain_request_is_billed_once_for_the_answer_the_provider_gave() {
    let gate = Gate::start().await;
    gate.plan(vec![limit(CONCURRENT, 1)]).await;
    gate.mock.behaviour.hold.store(true, Ordering::SeqCst);

    leave_after_sending(&gate, &Gate::chat("mock", "leave early")).await;
    // Time for the gateway to read the closed socket before the provider answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.mock.behaviour.hold.store(false, Ordering::SeqCst);
    gate.mock.release.notify_one();

    let billed = |unit: &str| {
        gate.scalar(&format!(
            "SELECT coalesce(string_agg(quantity::bigint::text, ','), '') AS n FROM billing.usage_events \
             WHERE resource_id = 'mock' AND unit = 'token_factory.{unit}'"
        ))
    };
    for _ in 0..250 {
        if !billed("requests").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // As OpenAI does: a plain answer is generated to its end, and billed, client or not.
    assert_eq!(billed("requests"), "1", "billed once");
    assert_eq!(billed("output_tokens"), "5", "the provider's five words");
    assert_eq!(
        billed("input_tokens"),
        "11",
        "the provider's reported prompt"
    );
    assert_slot_freed(&gate).await;
}

#[tokio::test]
async fn a_provider_without_usage_is_billed_by_the_gateways_count_marked_estimated() {
    let gate = Gate::start().await;
    gate.mock.behaviour.no_usage.store(true, Ordering::SeqCst);

    let res = gate
        .post("/chat/completions", &Gate::chat("mock", "count me"))
        .await;
    let request_id = request_id(&res);
    assert_eq!(res.status(), 200);

    let usage = gate.usage_of(&request_id);
    // "user" + "count me" + 6 framing tokens; five words "word".
    assert_eq!(usage[0], ("input_tokens".into(), "9".into()));
    assert_eq!(usage[1], ("output_tokens".into(), "5".into()));
}

#[tokio::test]
async fn a_long_answer_without_usage_is_billed_by_its_whole_count() {
    // 20,000 words are about 100 KB, past what is counted on the HTTP workers.
    let gate = Gate::start().await;
    gate.mock.behaviour.no_usage.store(true, Ordering::SeqCst);
    gate.mock.behaviour.words.store(20_000, Ordering::SeqCst);

    let res = gate
        .post("/chat/completions", &Gate::chat("mock", "count me"))
        .await;
    assert_eq!(res.status(), 200);
    let request_id = request_id(&res);
    let body: serde_json::Value = res.json().await.expect("json");
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .expect("the answer's text");
    assert!(text.len() > 64 * 1024, "{} bytes", text.len());

    let usage = gate.usage_of(&request_id);
    let counted = aicloud::products::token_factory::tokens::count(text);
    assert_eq!(usage[1], ("output_tokens".into(), counted.to_string()));
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_leaves_rotation_until_a_probe_brings_it_back() {
    let gate = Gate::start_with(&[("AICLOUD__TOKEN_FACTORY__PROBE_INTERVAL_SECS", "1")]).await;
    gate.mock.behaviour.fail.store(true, Ordering::SeqCst);

    for _ in 0..3 {
        assert_eq!(
            gate.post("/chat/completions", &Gate::chat("mock", "hi"))
                .await
                .status(),
            502
        );
    }
    let tried = gate.mock.count("/v1/chat/completions");
    let out = gate
        .post("/chat/completions", &Gate::chat("mock", "hi"))
        .await;
    let not_tried = gate.mock.count("/v1/chat/completions") == tried;
    gate.mock.behaviour.fail.store(false, Ordering::SeqCst);
    let mut back = false;
    for _ in 0..60 {
        if gate
            .post("/chat/completions", &Gate::chat("mock", "hi"))
            .await
            .status()
            == 200
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(out.status(), 503, "no endpoint in rotation");
    assert!(out.headers().contains_key("retry-after"));
    assert!(not_tried, "the endpoint out of rotation got no request");
    assert!(back, "a probe brought the endpoint back within 6 s");
    // Both moves are announced for status and notifications.
    let announced = "SELECT string_agg(payload->>'model' || '/' || (payload->>'endpoint') || ' ' || \
         (payload->>'status'), ',' ORDER BY seq) AS n FROM events.outbox \
         WHERE event_type = 'token_factory.provider.health_changed'";
    for _ in 0..50 {
        if gate.scalar(announced).matches(' ').count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        gate.scalar(announced),
        "mock/primary unavailable,mock/primary healthy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_one_process_takes_out_of_rotation_is_out_of_every_processs_until_a_probe_brings_it_back()
 {
    let probe = [("AICLOUD__TOKEN_FACTORY__PROBE_INTERVAL_SECS", "1")];
    let gate = Gate::start_with(&probe).await;
    let other = ServerProcess::start(&gate.app.db, &probe);
    let http = reqwest::Client::new();
    let chat_in_other = || async {
        http.post(format!("{}v1/chat/completions", other.url))
            .bearer_auth(&gate.key)
            .json(&Gate::chat("mock", "hi"))
            .send()
            .await
            .expect("the other process answers")
            .status()
            .as_u16()
    };
    gate.mock.behaviour.fail.store(true, Ordering::SeqCst);
    let hi = Gate::chat("mock", "hi");
    for _ in 0..3 {
        let failed = gate.post("/chat/completions", &hi).await;
        assert_eq!(failed.status(), 502, "through this process");
    }
    // The other process follows the shared record by NOTIFY, polled every 100 ms; it is
    // given a second, and must not find out by trying the provider itself.
    let recorded =
        "SELECT count(*)::text AS n FROM token_factory.endpoint_health WHERE NOT healthy";
    let seen = scalar_becomes(&gate, recorded, "1").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tried = gate.mock.count("/v1/chat/completions");
    let out = chat_in_other().await;
    let not_tried = gate.mock.count("/v1/chat/completions") == tried;
    gate.mock.behaviour.fail.store(false, Ordering::SeqCst);
    let mut back = false;
    for _ in 0..60 {
        if chat_in_other().await == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(
        seen,
        "the move out of rotation was recorded for the other processes"
    );
    assert_eq!(
        out, 503,
        "the other process has no endpoint in rotation either"
    );
    assert!(not_tried, "and sent the provider nothing");
    assert!(
        back,
        "a probe brought the endpoint back for the other process within 6 s"
    );
}

#[tokio::test]
async fn removing_an_endpoint_out_of_rotation_removes_its_shared_health_record() {
    let gate = Gate::start().await;
    gate.mock.behaviour.fail.store(true, Ordering::SeqCst);
    let hi = Gate::chat("mock", "hi");
    for _ in 0..3 {
        assert_eq!(gate.post("/chat/completions", &hi).await.status(), 502);
    }
    let records = "SELECT count(*)::text AS n FROM token_factory.endpoint_health";
    let recorded = scalar_becomes(&gate, records, "1").await;
    assert!(recorded, "the move out of rotation was recorded");

    gate.products
        .token_factory
        .remove_endpoint(&console(), "mock", "primary")
        .await
        .expect("removed");

    assert_eq!(
        gate.scalar(records),
        "0",
        "the record went with the endpoint"
    );
}

/// Whether `sql`'s scalar reads `expected` within 2 s.
async fn scalar_becomes(gate: &Gate, sql: &str, expected: &str) -> bool {
    for _ in 0..100 {
        if gate.scalar(sql) == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
