//! Token Factory's gateway overhead: one mock OpenAI-compatible provider (in this process,
//! on its own thread), loaded by the same real load generator (oha) directly and through a
//! real `aicloud serve` process with full enforcement on (a key, a plan with every limit
//! set, a price, a hold and a usage commit per request), at a fixed 1,000 requests/s and
//! at a fixed concurrency of 64, for both usage-commit settings. Direct and gateway loads
//! alternate in rounds, and the figures are medians of the rounds' differences (`load`).
//! Streams' time to first token is measured by a client here, directly and through the
//! gateway. A bare proxy on the gateway's HTTP stack, loaded the same way, shows what the
//! extra hop alone costs on this machine, apart from what the gateway does. The server's
//! resident memory is read idle (after start) and after the run, and the CPU time the
//! server and PostgreSQL spent per request at concurrency 64 from /proc: on shared cores
//! that moves far less from run to run than throughput does. Each such load is counted
//! until both are quiet again, so work it left queued is charged to it, not to the next
//! measurement (the streams are sampled on a quiet server). Settings in the bench's own
//! environment (`AICLOUD__BILLING__CAPTURE_WRITERS=2 make bench`) reach the server, so one
//! run can try a setting against the same baseline.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use aicloud::app::{Platform, Products};
use aicloud::platform::billing::{Credit, NewPrice};
use aicloud::platform::iam::{Caller, KeyHolder, NewKey, OrgKind};
use aicloud::platform::policy::{NewPlan, PlanLimit, Value};
use aicloud::products::token_factory::{Catalog, ModelKind, NewEndpoint, NewModel};
use futures_util::StreamExt;
use serde_json::{Value as Json, json};

use load::{ROUNDS, SECONDS, Spread, Target};

#[path = "gateway/load.rs"]
mod load;

/// The organization the load runs as.
const ORG: &str = "gateway-bench";
/// Streams each time-to-first-token sample sends.
const STREAMS: usize = 300;

fn console() -> Caller {
    Caller::Console("bench".into())
}

/// The mock's whole answer: what a small chat completion looks like.
fn answer() -> Json {
    json!({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "upstream",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "four words of answer",
        "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}})
}

async fn mock_chat(body: web::Json<Json>) -> HttpResponse {
    if body["stream"].as_bool() != Some(true) {
        return HttpResponse::Ok().json(answer());
    }
    let chunk = |delta: Json, finish: Json| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
            "created": 1, "model": "upstream", "choices": [{"index": 0, "delta": delta,
            "logprobs": null, "finish_reason": finish}]})
        )
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Json::Null,
    )];
    for word in ["four", " words", " of", " answer"] {
        events.push(chunk(json!({"content": word}), Json::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    events.push(format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
        "created": 1, "model": "upstream", "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}})
    ));
    events.push("data: [DONE]\n\n".into());
    // The first event at once, the rest 2 ms apart: a first token well before the end.
    let paced =
        futures_util::stream::iter(events.into_iter().enumerate()).then(|(i, e)| async move {
            if i > 1 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok::<_, actix_web::Error>(bytes::Bytes::from(e))
        });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(paced)
}

/// Starts the mock on its own thread and runtime; returns its base URL.
fn start_mock() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("mock port");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(|| App::new().route("/v1/chat/completions", web::post().to(mock_chat)))
                .workers(1)
                .listen(listener)
                .expect("listens")
                .run()
                .await
                .expect("mock runs");
        });
    });
    format!("http://127.0.0.1:{port}/v1")
}

/// A bare proxy to `mock` on the gateway's HTTP stack (actix-web serving, a pooled reqwest
/// client, two workers) that does nothing else: no key, no JSON, no enforcement, no
/// database. What it adds to the direct figures is the extra hop's share of the gateway's.
fn start_bare_proxy(mock: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy port");
    let port = listener.local_addr().expect("addr").port();
    let target = format!("{mock}/chat/completions");
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                .build()
                .expect("client");
            let to = web::Data::new((client, target));
            HttpServer::new(move || {
                App::new()
                    .app_data(to.clone())
                    .route("/v1/chat/completions", web::post().to(pass_on))
            })
            .workers(2)
            .listen(listener)
            .expect("listens")
            .run()
            .await
            .expect("proxy runs");
        });
    });
    format!("http://127.0.0.1:{port}/v1")
}

async fn pass_on(to: web::Data<(reqwest::Client, String)>, body: bytes::Bytes) -> HttpResponse {
    let (client, target) = to.get_ref();
    let sent = client
        .post(target)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let Ok(reply) = sent else {
        return HttpResponse::BadGateway().finish();
    };
    let status = reply.status().as_u16();
    match reply.bytes().await {
        Ok(bytes) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
                .content_type("application/json")
                .body(bytes)
        }
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

/// Organization `bench` on a plan with every gateway limit set (high), priced, funded, with
/// the mock as model `bench`; returns a key.
async fn set_up(platform: &Arc<Platform>, mock: &str) -> String {
    super::token_factory_onboarded(platform).await;
    platform
        .iam
        .create_organization(&console(), ORG, "Gateway bench", OrgKind::Team, None)
        .await
        .expect("org");
    let limit = |d: &str, n| PlanLimit {
        dimension: d.into(),
        resource_type: None,
        resource_id: None,
        value: Value::Limit(n),
        delegate: false,
    };
    let plan = NewPlan {
        name: "gateway-bench".into(),
        description: "every limit on, none reached".into(),
        products: vec!["*".into()],
        limits: vec![
            limit("token_factory.requests_per_minute", 100_000_000),
            limit("token_factory.tokens_per_minute", 10_000_000_000),
            limit("token_factory.concurrent_requests", 100_000),
            limit("token_factory.monthly_tokens", 1_000_000_000_000),
        ],
    };
    platform
        .plans
        .create_plan(&console(), plan)
        .await
        .expect("plan");
    platform
        .plans
        .assign(&console(), ORG, "gateway-bench", None)
        .await
        .expect("assigned");
    for (unit, minor) in [
        ("token_factory.input_tokens", "0.0001"),
        ("token_factory.output_tokens", "0.0002"),
        ("token_factory.requests", "0"),
    ] {
        let price = NewPrice {
            product: "token_factory".into(),
            unit: unit.into(),
            resource_type: Some("token_factory.model".into()),
            resource_id: None,
            currency: "USD".into(),
            unit_price_minor: minor.parse().expect("price"),
            effective_from: None,
            effective_to: None,
        };
        platform
            .pricing
            .set_price(&console(), price)
            .await
            .expect("price");
    }
    let credit = Credit {
        amount_minor: 100_000_000_000,
        reason: "bench".into(),
    };
    platform
        .ledger
        .top_up(&console(), ORG, credit)
        .await
        .expect("funds");
    let products = Products::start(platform).await.expect("products");
    let model = NewModel {
        id: "bench".into(),
        display_name: "Bench mock".into(),
        kind: ModelKind::Chat,
        context_length: 8192,
        max_output_tokens: 256,
        fallbacks: Vec::new(),
        premium: false,
        endpoints: vec![NewEndpoint {
            name: "mock".into(),
            base_url: mock.into(),
            upstream_model: "upstream".into(),
            credential_env: None,
            weight: 1,
            timeout_ms: 30_000,
            max_in_flight: 100_000,
        }],
    };
    products
        .token_factory
        .add_model(&console(), model)
        .await
        .expect("model");
    products.stop();
    let sa = platform
        .keys
        .create_service_account(&console(), ORG, "default", "loader", "bench", "load")
        .await
        .expect("sa");
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "bench".into(),
        scopes: vec![
            "token_factory.inference".into(),
            "token_factory.models.read".into(),
        ],
        model_allowlist: None,
        expires_at: None,
    };
    platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("key")
        .secret
}

/// A real server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(owner_db: &str, server_db: &str, commit: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aicloud"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(std::env::vars().filter(|(name, _)| name.starts_with("AICLOUD__")))
        .env("DATABASE_URL", server_db)
        .env("DATABASE_OWNER_URL", owner_db)
        .env("AICLOUD__SERVER__PORT", "0")
        .env("AICLOUD__LOG__LEVEL", "warn")
        .env("AICLOUD__TOKEN_FACTORY__USAGE_COMMIT", commit)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("banner");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = banner
        .split("portal at ")
        .nth(1)
        .expect("a portal URL")
        .trim()
        .trim_end_matches('/')
        .to_owned();
    Server { child, url }
}

/// CPU seconds (user + system) `pid` has used.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 11 and 12 after the name; Linux
    // counts them in USER_HZ, 100 a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds every PostgreSQL process has used.
fn postgres_cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| cpu_secs(&pid))
        .sum()
}

/// Resident memory of `pid`, MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn body() -> String {
    json!({"model": "bench", "max_tokens": 16, "messages": [{"role": "user", "content": "a small prompt for the bench"}]}).to_string()
}

/// p50 and p99 time to the first chunk of `STREAMS` streams, 16 at a time, in ms.
/// p50 and p99, ms.
type Percentiles = (f64, f64);

/// Time to first token directly and through `gateway`, alternating as `load::compare` does.
async fn first_tokens_compared(direct: Target<'_>, gateway: Target<'_>) -> FirstTokens {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let baseline = first_tokens(direct.url, direct.key).await;
        rounds.push((baseline, first_tokens(gateway.url, gateway.key).await));
    }
    let spread =
        |f: &dyn Fn(&(Percentiles, Percentiles)) -> f64| Spread::of(rounds.iter().map(f).collect());
    FirstTokens {
        direct: (spread(&|r| r.0.0).median, spread(&|r| r.0.1).median),
        gateway: (spread(&|r| r.1.0).median, spread(&|r| r.1.1).median),
        added: (spread(&|r| r.1.0 - r.0.0), spread(&|r| r.1.1 - r.0.1)),
    }
}

/// Medians over rounds of p50 and p99 time to first token, ms, and of what the gateway
/// added in each round.
struct FirstTokens {
    direct: Percentiles,
    gateway: Percentiles,
    added: (Spread, Spread),
}

impl FirstTokens {
    fn line(&self) -> String {
        let (p50, p99) = &self.added;
        format!(
            "p50 {:.3} ms (direct {:.3}, +{:.3}; rounds {:+.3} to {:+.3}), p99 {:.3} ms (direct {:.3}, +{:.3}; rounds {:+.3} to {:+.3})",
            self.gateway.0,
            self.direct.0,
            p50.median,
            p50.low,
            p50.high,
            self.gateway.1,
            self.direct.1,
            p99.median,
            p99.low,
            p99.high
        )
    }
}

async fn first_tokens(url: &str, key: Option<&str>) -> Percentiles {
    let client = reqwest::Client::new();
    let mut body: Json = serde_json::from_str(&body()).expect("json");
    body["stream"] = json!(true);
    let mut samples = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS / 16 {
        let batch = (0..16).map(|_| {
            let mut request = client.post(format!("{url}/chat/completions")).json(&body);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            async move {
                let started = Instant::now();
                let res = request.send().await.expect("sent");
                let mut stream = res.bytes_stream();
                let first = stream.next().await.map(|_| started.elapsed());
                while stream.next().await.is_some() {}
                first
            }
        });
        samples.extend(
            futures_util::future::join_all(batch)
                .await
                .into_iter()
                .flatten(),
        );
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99))
}

async fn wait_until_served(url: &str, key: &str) {
    let client = reqwest::Client::new();
    for _ in 0..400 {
        let res = client
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body())
            .send()
            .await;
        if res.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway never served the bench key");
}

/// Runs the gateway section.
pub async fn gateway(platform: &Arc<Platform>, owner_db: &str, server_db: &str) {
    let mock = start_mock();
    let key = set_up(platform, &mock).await;
    let direct = Target {
        url: &mock,
        key: None,
    };
    let bare_url = start_bare_proxy(&mock);
    let bare = Target {
        url: &bare_url,
        key: None,
    };
    let bare = load::compare(direct, bare, &mut |_| {});
    println!();
    println!(
        "gateway overhead (oha, {ROUNDS} rounds of {SECONDS} s loads, concurrency 64; mock provider direct vs through `aicloud serve`, alternating)"
    );
    print_settings();
    println!(
        "  direct to mock (medians): at 1,000/s p50 {:.3} ms p99 {:.3} ms; at concurrency 64 {:.0}/s",
        bare.direct.p50, bare.direct.p99, bare.direct.rps
    );
    println!(
        "  bare proxy (the same HTTP stack, nothing else): at 1,000/s {}; at concurrency 64 {}",
        bare.at_rate(),
        bare.at_max()
    );
    for commit in ["before_response", "after_response"] {
        let server = start_server(owner_db, server_db, commit);
        let pid = server.child.id();
        let idle = rss_mib(pid);
        wait_until_served(&server.url, &key).await;
        let base = format!("{}/v1", server.url);
        let gateway = Target {
            url: &base,
            key: Some(&key),
        };
        let mut cpu = Cpu::of(pid);
        let compared = load::compare(direct, gateway, &mut |before| cpu.count(before));
        let (server_us, postgres_us) = cpu.per_request(compared.served_max);
        let ttft = first_tokens_compared(direct, gateway).await;
        let after = rss_mib(pid);
        println!("  usage_commit = {commit}:");
        println!("    at 1,000/s: {}", compared.at_rate());
        println!("    at concurrency 64: {}", compared.at_max());
        println!(
            "    CPU per request at concurrency 64: server {server_us:.0} µs, PostgreSQL {postgres_us:.0} µs (each load counted until quiet again, at most {:.1} s after it ended)",
            cpu.longest_drain()
        );
        println!("    first token: {}", ttft.line());
        println!("    memory: {idle:.1} MiB idle, {after:.1} MiB after the run");
        drop(server);
    }
}

/// The `AICLOUD__` settings the servers were given from the bench's environment, if any.
fn print_settings() {
    let settings: Vec<String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("AICLOUD__"))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if !settings.is_empty() {
        println!(
            "  server settings from the environment: {}",
            settings.join(" ")
        );
    }
}

/// CPU seconds the server and PostgreSQL spent on the loads counted, each counted until
/// both were quiet again: the work a load leaves behind (after_response's usage commits,
/// queued while the load outran them) is its cost, and would otherwise be charged to the
/// next measurement, the direct round's or the streams' time to first token.
struct Cpu {
    pid: String,
    started: (f64, f64),
    spent: (f64, f64),
    /// How long each load took to go quiet after it ended.
    drains: Vec<Duration>,
}

/// Quiet: the server and PostgreSQL together under 10 % of a core over a sample.
const QUIET_SAMPLE: Duration = Duration::from_millis(200);
/// Longest wait for quiet.
const MOST_DRAIN: Duration = Duration::from_secs(30);

impl Cpu {
    fn of(pid: u32) -> Cpu {
        Cpu {
            pid: pid.to_string(),
            started: (0.0, 0.0),
            spent: (0.0, 0.0),
            drains: Vec::new(),
        }
    }

    /// Waits until the server and PostgreSQL are quiet; answers how long that took.
    fn drain(&self) -> Duration {
        let began = Instant::now();
        let busy = || cpu_secs(&self.pid) + postgres_cpu_secs();
        let mut last = busy();
        while began.elapsed() < MOST_DRAIN {
            std::thread::sleep(QUIET_SAMPLE);
            let now = busy();
            if now - last < QUIET_SAMPLE.as_secs_f64() / 10.0 {
                break;
            }
            last = now;
        }
        began.elapsed().saturating_sub(QUIET_SAMPLE)
    }

    /// The longest drain, s.
    fn longest_drain(&self) -> f64 {
        self.drains.iter().max().map_or(0.0, Duration::as_secs_f64)
    }

    /// Called before (`true`) and after (`false`) a load to count.
    fn count(&mut self, before: bool) {
        if !before {
            let drained = self.drain();
            self.drains.push(drained);
        }
        let now = (cpu_secs(&self.pid), postgres_cpu_secs());
        match before {
            true => self.started = now,
            false => {
                self.spent.0 += now.0 - self.started.0;
                self.spent.1 += now.1 - self.started.1;
            }
        }
    }

    /// Microseconds of each per request, over `served` requests.
    fn per_request(&self, served: f64) -> (f64, f64) {
        (self.spent.0 / served * 1e6, self.spent.1 / served * 1e6)
    }
}
