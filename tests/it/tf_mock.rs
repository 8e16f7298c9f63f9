//! A mock OpenAI-compatible provider on a random port, for the gateway's end-to-end tests:
//! it answers chat (JSON and SSE), completions, embeddings and models as OpenAI does, and
//! can be told to fail, to omit usage, or to hold an answer (a stream after its first word)
//! until the test releases it. It counts what it was asked and notices streams cancelled under it.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde_json::{Value, json};

/// How the mock behaves; change it while it runs.
#[derive(Default)]
pub struct Behaviour {
    /// Answer every request 500.
    pub fail: AtomicBool,
    /// Leave `usage` out of answers (and streams).
    pub no_usage: AtomicBool,
    /// Hold streams after the first word, and plain answers before they are sent, until
    /// `release` is notified.
    pub hold: AtomicBool,
    /// Words a streamed answer has.
    pub words: AtomicUsize,
}

/// A running mock.
pub struct Mock {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    /// What it does.
    pub behaviour: Arc<Behaviour>,
    /// Requests it received, by path.
    pub received: Arc<std::sync::Mutex<Vec<(String, Value)>>>,
    /// Wakes held streams.
    pub release: Arc<tokio::sync::Notify>,
    /// Streams that were dropped before their end (the gateway cancelled them).
    pub cancelled: Arc<AtomicUsize>,
    /// Streams that reached their end.
    pub completed: Arc<AtomicUsize>,
    /// Words the last cancelled stream had sent.
    pub words_at_cancel: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct State {
    behaviour: Arc<Behaviour>,
    received: Arc<std::sync::Mutex<Vec<(String, Value)>>>,
    release: Arc<tokio::sync::Notify>,
    cancelled: Arc<AtomicUsize>,
    completed: Arc<AtomicUsize>,
    words_at_cancel: Arc<AtomicUsize>,
}

impl Mock {
    /// Starts a mock on a free port.
    pub fn start() -> Mock {
        let behaviour = Arc::new(Behaviour {
            words: AtomicUsize::new(5),
            ..Behaviour::default()
        });
        let state = State {
            behaviour: Arc::clone(&behaviour),
            received: Arc::default(),
            release: Arc::new(tokio::sync::Notify::new()),
            cancelled: Arc::default(),
            completed: Arc::default(),
            words_at_cancel: Arc::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock port");
        let port = listener.local_addr().expect("addr").port();
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(chat))
                .route("/v1/completions", web::post().to(completions))
                .route("/v1/embeddings", web::post().to(embeddings))
                .route("/v1/models", web::get().to(models))
        })
        .workers(1)
        .listen(listener)
        .expect("mock listens")
        .run();
        tokio::spawn(server);
        Mock {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            behaviour,
            received: state.received,
            release: state.release,
            cancelled: state.cancelled,
            completed: state.completed,
            words_at_cancel: state.words_at_cancel,
        }
    }

    /// How many requests reached `path` (e.g. `/v1/chat/completions`).
    pub fn count(&self, path: &str) -> usize {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }

    /// The last body sent to `path`.
    pub fn last(&self, path: &str) -> Value {
        let received = self.received.lock().expect("lock");
        received
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .expect("a request")
    }
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn note(state: &State, path: &str, body: &Value) -> Option<HttpResponse> {
    state
        .received
        .lock()
        .expect("lock")
        .push((path.to_owned(), body.clone()));
    state.behaviour.fail.load(Ordering::SeqCst).then(|| {
        HttpResponse::InternalServerError().json(json!({"error": {"message": "mock down", "type": "server_error", "param": null, "code": null}}))
    })
}

async fn chat(state: web::Data<State>, body: web::Json<Value>) -> HttpResponse {
    if let Some(failed) = note(&state, "/v1/chat/completions", &body) {
        return failed;
    }
    let words = state.behaviour.words.load(Ordering::SeqCst);
    let with_usage = !state.behaviour.no_usage.load(Ordering::SeqCst);
    if body["stream"].as_bool() == Some(true) {
        let wants = body["stream_options"]["include_usage"].as_bool() == Some(true);
        return stream(&state, words, with_usage && wants);
    }
    if state.behaviour.hold.load(Ordering::SeqCst) {
        state.release.notified().await;
    }
    let text = vec!["word"; words].join(" ");
    let mut answer = json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1,
        "model": body["model"], "choices": [{"index": 0, "message": {"role": "assistant",
        "content": text, "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
        "system_fingerprint": "fp_mock"});
    if with_usage {
        answer["usage"] = usage(11, words as u64);
    }
    HttpResponse::Ok().json(answer)
}

struct Streaming {
    state: State,
    sent: usize,
    words: usize,
    usage: bool,
    done: bool,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if !self.done {
            let words = self.sent.saturating_sub(1).min(self.words);
            self.state.words_at_cancel.store(words, Ordering::SeqCst);
        }
        let counter = if self.done {
            &self.state.completed
        } else {
            &self.state.cancelled
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

fn event(value: Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn chunk(delta: Value, finish: Option<&str>, usage: bool) -> Value {
    let mut c = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1,
        "model": "upstream-model", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
    if usage {
        c["usage"] = Value::Null;
    }
    c
}

fn stream(state: &State, words: usize, usage_chunk: bool) -> HttpResponse {
    let streaming = Streaming {
        state: state.clone(),
        sent: 0,
        words,
        usage: usage_chunk,
        done: false,
    };
    let body = futures_util::stream::unfold(streaming, |mut s| async move {
        let step = s.sent;
        s.sent += 1;
        let bytes = match step {
            0 => event(chunk(
                json!({"role": "assistant", "content": ""}),
                None,
                s.usage,
            )),
            n if n <= s.words => {
                if n == 2 && s.state.behaviour.hold.load(Ordering::SeqCst) {
                    s.state.release.notified().await;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                event(chunk(
                    json!({"content": if n == 1 { "word" } else { " word" }}),
                    None,
                    s.usage,
                ))
            }
            n if n == s.words + 1 => event(chunk(json!({}), Some("stop"), s.usage)),
            n if n == s.words + 2 && s.usage => event(json!({"id": "chatcmpl-mock",
                "object": "chat.completion.chunk", "created": 1, "model": "upstream-model",
                "choices": [], "usage": usage(11, s.words as u64)})),
            n if n <= s.words + 3 => {
                s.done = true;
                s.sent = usize::MAX - 1;
                Bytes::from_static(b"data: [DONE]\n\n")
            }
            _ => return None,
        };
        Some((Ok::<_, actix_web::Error>(bytes), s))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(body)
}

async fn completions(state: web::Data<State>, body: web::Json<Value>) -> HttpResponse {
    if let Some(failed) = note(&state, "/v1/completions", &body) {
        return failed;
    }
    HttpResponse::Ok().json(json!({"id": "cmpl-mock", "object": "text_completion", "created": 1,
        "model": body["model"], "choices": [{"text": " mock completion", "index": 0, "logprobs": null,
        "finish_reason": "stop"}], "usage": usage(4, 3)}))
}

async fn embeddings(state: web::Data<State>, body: web::Json<Value>) -> HttpResponse {
    if let Some(failed) = note(&state, "/v1/embeddings", &body) {
        return failed;
    }
    let inputs = match &body["input"] {
        Value::Array(items) => items.len(),
        _ => 1,
    };
    let data: Vec<Value> = (0..inputs)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.5, -0.25, 1.0]}))
        .collect();
    HttpResponse::Ok().json(
        json!({"object": "list", "data": data, "model": body["model"],
        "usage": {"prompt_tokens": 3 * inputs, "total_tokens": 3 * inputs}}),
    )
}

async fn models(state: web::Data<State>) -> HttpResponse {
    if state.behaviour.fail.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok().json(json!({"object": "list", "data": [{"id": "upstream-model", "object": "model", "created": 1, "owned_by": "mock"}]}))
}
