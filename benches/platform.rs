//! `make bench`: audit appends per second (single and batched), verify events per second
//! over a long chain, outbox events delivered per second, and authenticate + decide per
//! second from memory, and billing's ingestion and spend guard (benches/platform/billing.rs),
//! each beside a baseline measured in the same run.
//!
//! Runs only under `cargo bench` (which passes `--bench`); `cargo test --all-targets` just
//! builds it. BENCH_EVENTS sets the chain length for verify (default 1,000,000).

#![expect(
    clippy::expect_used,
    reason = "a benchmark stops loudly at the step that broke"
)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aicloud::app::Platform;
use aicloud::base::config::Settings;
use aicloud::base::db::Db;
use aicloud::platform::audit::{Actor, ActorKind, AuditEvent, AuditResult, NewEvent, chain};
use aicloud::platform::registry::{Format, PacketSource};
use diesel::{Connection, PgConnection, RunQueryDsl};

#[path = "platform/billing.rs"]
mod billing;
#[path = "platform/gateway.rs"]
mod gateway;
#[path = "platform/policy.rs"]
mod policy;

const SINGLE: usize = 2_000;
const BATCH: usize = 500;
const BATCHES: usize = 10;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("platform bench: run it with `make bench`");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = &base[..base.rfind('/').expect("database in URL")];
    query.map_or(format!("{prefix}/{name}"), |q| {
        format!("{prefix}/{name}?{q}")
    })
}

fn sql(conn: &mut PgConnection, statement: &str) {
    diesel::sql_query(statement)
        .execute(conn)
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Onboards Token Factory's packet (idempotently): each section that meters or decides for
/// it needs its scopes, units and dimensions, whichever sections run.
async fn token_factory_onboarded(platform: &Platform) {
    onboarded(platform, "token-factory.toml").await;
}

/// Onboards `config/products/<file>`.
async fn onboarded(platform: &Platform, file: &str) {
    let packet = PacketSource {
        origin: file.into(),
        text: std::fs::read_to_string(format!("config/products/{file}")).expect("packet"),
        format: Format::Toml,
    };
    platform
        .registry
        .onboard(packet, Actor::system("bench"))
        .await
        .expect("onboarded");
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

async fn run() {
    let env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("DATABASE"))
        .collect();
    let settings =
        Settings::load_from(Path::new("config/default.toml"), None, env).expect("settings");
    let owner = settings.owner_database_url().expect("owner url");
    let server = settings.database_url().expect("server url");
    let name = format!("aicloud_bench_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::establish(&owner).expect("admin");
    sql(&mut admin, &format!("CREATE DATABASE {name}"));
    let (owner_db, server_db) = (with_database(&owner, &name), with_database(&server, &name));
    aicloud::base::db::migrate(&owner_db, &server_db).expect("migrated");

    let platform = start_platform(&server_db, &owner_db).await;
    println!("{:<44} {:>14}", "measurement", "per second");
    // BENCH_ONLY=policy,billing runs just those sections (all by default).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |name: &str| only.is_empty() || only.split(',').any(|s| s.trim() == name);
    if runs("audit") {
        appends(&platform, &owner_db, &server_db);
        verify(&platform, &owner_db).await;
    }
    if runs("events") {
        outbox(&platform, &server_db).await;
    }
    if runs("iam") {
        authentication(&platform).await;
        sign_ins(&platform).await;
    }
    if runs("billing") {
        billing::billing(&platform, &owner_db, &server_db).await;
    }
    if runs("policy") {
        policy::policy(&platform).await;
    }
    if runs("gateway") {
        gateway::gateway(&platform, &owner_db, &server_db).await;
    }

    drop(platform);
    sql(&mut admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
}

async fn start_platform(server_db: &str, owner_db: &str) -> Arc<Platform> {
    let env = HashMap::from([
        ("DATABASE_URL".to_owned(), server_db.to_owned()),
        ("DATABASE_OWNER_URL".to_owned(), owner_db.to_owned()),
    ]);
    let settings = Arc::new(
        Settings::load_from(Path::new("config/default.toml"), None, env).expect("settings"),
    );
    let db = Db::new(server_db, 4, std::time::Duration::from_secs(5)).expect("pool");
    let platform = Platform::start(db, settings).await.expect("platform");
    onboarded(&platform, "platform.toml").await;
    Arc::new(platform)
}

fn event(n: usize) -> NewEvent {
    let mut e = NewEvent::new(
        Actor::system("bench"),
        "platform.api_key.issued",
        "api_key",
        &format!("key-{n}"),
    );
    e.details = serde_json::json!({ "n": n, "scopes": ["a", "b"] });
    e
}

/// A plain table with the audit row's width: the cost of an INSERT without the chain.
const PLAIN: &str = "CREATE TABLE bench_plain (seq bigserial PRIMARY KEY, id uuid, at timestamptz, actor text, \
    action text, target text, details text, hash text)";

fn plain_row(n: usize) -> String {
    format!(
        "('{}', now(), 'system:bench', 'platform.api_key.issued', 'api_key:key-{n}', '{{\"n\":{n}}}', md5('{n}'))",
        uuid::Uuid::now_v7()
    )
}

/// Inserts rows `ns` in one multi-row statement, as audit's batch does.
fn plain_insert(conn: &mut PgConnection, ns: impl Iterator<Item = usize>) {
    let rows: Vec<String> = ns.map(plain_row).collect();
    let columns = "bench_plain (id, at, actor, action, target, details, hash)";
    sql(
        conn,
        &format!("INSERT INTO {columns} VALUES {}", rows.join(",")),
    );
}

fn appends(platform: &Arc<Platform>, owner_db: &str, server_db: &str) {
    let mut owner = PgConnection::establish(owner_db).expect("owner");
    sql(&mut owner, PLAIN);
    let mut conn = PgConnection::establish(server_db).expect("server");
    let mut plain = owner;

    let started = Instant::now();
    for n in 0..SINGLE {
        plain
            .transaction(|c| {
                plain_insert(c, std::iter::once(n));
                Ok::<_, diesel::result::Error>(())
            })
            .expect("insert");
    }
    println!(
        "{:<44} {:>14.0}",
        "baseline: plain INSERT, one per transaction",
        rate(SINGLE, started)
    );

    let started = Instant::now();
    for n in 0..SINGLE {
        conn.transaction(|c| platform.audit.append_in(c, event(n)).map(|_| ()))
            .expect("append");
    }
    println!(
        "{:<44} {:>14.0}",
        "audit append, one per transaction",
        rate(SINGLE, started)
    );

    let started = Instant::now();
    for b in 0..BATCHES {
        plain
            .transaction(|c| {
                plain_insert(c, (0..BATCH).map(|n| b * BATCH + n));
                Ok::<_, diesel::result::Error>(())
            })
            .expect("insert");
    }
    println!(
        "{:<44} {:>14.0}",
        "baseline: plain 500-row INSERT per transaction",
        rate(BATCH * BATCHES, started)
    );

    let started = Instant::now();
    for b in 0..BATCHES {
        let events = (0..BATCH).map(|n| event(b * BATCH + n)).collect();
        conn.transaction(|c| platform.audit.append_batch_in(c, events).map(|_| ()))
            .expect("append");
    }
    println!(
        "{:<44} {:>14.0}",
        "audit append, 500 per transaction",
        rate(BATCH * BATCHES, started)
    );
}

/// Extends the chain to BENCH_EVENTS with valid, linked rows written in bulk (the append
/// path above is measured separately), then times verify against hashing alone.
async fn verify(platform: &Arc<Platform>, owner_db: &str) {
    let target: i64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut conn = PgConnection::establish(owner_db).expect("owner");
    let (mut seq, mut prev) = head(&mut conn);
    let mut encoded_total = Vec::new();
    let started = Instant::now();
    while seq < target {
        let mut values = Vec::new();
        for _ in 0..1000.min(target - seq) {
            seq += 1;
            let mut e = chain_event(seq, prev.clone());
            e.hash = chain::hash(&e);
            prev.clone_from(&e.hash);
            if encoded_total.len() < 200_000 {
                encoded_total.push(chain::encode(&e));
            }
            values.push(row_sql(&e));
        }
        sql(
            &mut conn,
            &format!("INSERT INTO audit.events VALUES {}", values.join(",")),
        );
    }
    println!(
        "{:<44} {:>14}",
        format!(
            "(chain extended to {target} events in {:.0} s)",
            started.elapsed().as_secs_f64()
        ),
        ""
    );

    let started = Instant::now();
    let report = platform.audit.verify(None).await.expect("verify");
    assert!(report.ok, "{report:?}");
    println!(
        "{:<44} {:>14.0}",
        format!("audit verify over {} events", report.events_checked),
        rate(report.events_checked as usize, started)
    );

    let started = Instant::now();
    for text in &encoded_total {
        std::hint::black_box(chain::hash_encoded(text));
    }
    println!(
        "{:<44} {:>14.0}",
        "baseline: SHA-256 of encoded events alone",
        rate(encoded_total.len(), started)
    );
}

fn head(conn: &mut PgConnection) -> (i64, String) {
    #[derive(diesel::QueryableByName)]
    struct Head {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        hash: String,
    }
    let h: Head = diesel::sql_query("SELECT seq, hash FROM audit.events ORDER BY seq DESC LIMIT 1")
        .get_result(conn)
        .expect("head");
    (h.seq, h.hash)
}

fn chain_event(seq: i64, prev_hash: String) -> AuditEvent {
    AuditEvent {
        seq,
        id: uuid::Uuid::now_v7(),
        occurred_at: aicloud::base::clock::truncate_to_micros(time::OffsetDateTime::now_utc()),
        actor: Actor {
            kind: ActorKind::System,
            id: "bench".into(),
            role: None,
            on_behalf_of: None,
        },
        organization_id: None,
        department_id: None,
        project_id: None,
        action: "platform.api_key.issued".into(),
        target_type: "api_key".into(),
        target_id: format!("key-{seq}"),
        result: AuditResult::Success,
        reason: None,
        correlation_id: Some(format!("bench-{seq}")),
        client_ip: None,
        user_agent: None,
        details: serde_json::json!({ "n": seq }),
        retention_class: "platform.retention.audit_7y".into(),
        prev_hash,
        hash: String::new(),
    }
}

fn row_sql(e: &AuditEvent) -> String {
    format!(
        "({}, '{}', '{}', 'system', 'bench', NULL, NULL, NULL, NULL, NULL, '{}', '{}', '{}', 'success', NULL, '{}', NULL, NULL, '{}', '{}', '{}', '{}')",
        e.seq,
        e.id,
        chain::timestamp(e.occurred_at),
        e.action,
        e.target_type,
        e.target_id,
        e.correlation_id.as_deref().unwrap_or_default(),
        aicloud::platform::audit::canonical::to_string(&e.details),
        e.retention_class,
        e.prev_hash,
        e.hash
    )
}

/// Counts deliveries; does nothing else, so the relay's own cost is what is measured.
struct Counter(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl aicloud::platform::events::Consumer for Counter {
    async fn handle(&self, _: &aicloud::platform::events::Envelope) -> Result<(), String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Publishes OUTBOX events in 500-event transactions with the relay stopped, then times the
/// relay draining them to one consumer.
async fn outbox(platform: &Arc<Platform>, server_db: &str) {
    const OUTBOX: usize = 20_000;
    let counter = Arc::new(Counter(std::sync::atomic::AtomicUsize::new(0)));
    platform
        .events
        .subscribe(
            "bench.counter",
            &["platform.registry.changed"],
            counter.clone(),
        )
        .await
        .expect("subscribed");
    let mut conn = PgConnection::establish(server_db).expect("server");
    let started = Instant::now();
    for _ in 0..OUTBOX / BATCH {
        conn.transaction(|c| {
            (0..BATCH).try_for_each(|n| {
                let message = aicloud::platform::events::Message::new(
                    "platform.registry.changed",
                    serde_json::json!({ "n": n }),
                );
                platform.events.publish_in(c, message).map(|_| ())
            })
        })
        .expect("published");
    }
    println!(
        "{:<44} {:>14.0}",
        "outbox publish, 500 per transaction",
        rate(OUTBOX, started)
    );

    let started = Instant::now();
    platform.events.start_relay();
    while counter.0.load(std::sync::atomic::Ordering::Relaxed) < OUTBOX {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    println!(
        "{:<44} {:>14.0}",
        "outbox events delivered (fan-out + lease + ack)",
        rate(OUTBOX, started)
    );
}

/// authenticate + decide on one thread, against hashing the secret alone. Both calls answer
/// from memory (the key read model and the registry snapshot): no database round trip, as
/// the gateway will call them on every request.
async fn authentication(platform: &Arc<Platform>) {
    use aicloud::platform::iam::{Caller, KeyHolder, NewKey, OrgKind};
    let console = || Caller::Console("bench".into());
    token_factory_onboarded(platform).await;
    let org = platform
        .iam
        .create_organization(
            &aicloud::platform::iam::Caller::Console("bench".into()),
            "bench",
            "Bench",
            OrgKind::Team,
            None,
        )
        .await
        .expect("org");
    let sa = platform
        .keys
        .create_service_account(
            &console(),
            "bench",
            "default",
            "client",
            "bench",
            "benchmark",
        )
        .await
        .expect("sa");
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "bench".into(),
        scopes: vec!["token_factory.inference".into()],
        model_allowlist: None,
        expires_at: None,
    };
    let secret = platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("key")
        .secret;
    const N: usize = 1_000_000;

    let started = Instant::now();
    for _ in 0..N {
        let principal = platform
            .keys
            .authenticate(std::hint::black_box(&secret))
            .expect("authenticated");
        let decision = platform.keys.decide(
            &principal,
            "token_factory.inference",
            aicloud::platform::iam::OrganizationId(org.organization.id),
            Some(aicloud::platform::iam::ProjectId(org.project.id)),
        );
        assert!(std::hint::black_box(decision).allow);
    }
    println!(
        "{:<44} {:>14.0}",
        "authenticate + decide (read model, 1 thread)",
        rate(N, started)
    );

    // What every platform API route does for a key: place the slugs, then decide.
    let started = Instant::now();
    for _ in 0..N / 10 {
        let principal = platform.keys.authenticate(&secret).expect("authenticated");
        let target = aicloud::platform::iam::Target::project("bench", "default");
        let placed = platform
            .access
            .authorize(&Caller::Key(principal), "token_factory.inference", target)
            .await;
        assert!(std::hint::black_box(placed).is_ok());
    }
    println!(
        "{:<44} {:>14.0}",
        "authenticate + route authorize by slugs",
        rate(N / 10, started)
    );

    let started = Instant::now();
    for _ in 0..N {
        std::hint::black_box(<sha2::Sha256 as sha2::Digest>::digest(
            std::hint::black_box(secret.as_bytes()),
        ));
    }
    println!(
        "{:<44} {:>14.0}",
        "baseline: SHA-256 of the key alone",
        rate(N, started)
    );
}

/// Wrong passwords for an existing account and for an unknown email, each from an address
/// of its own so the throttle never answers: both must cost one argon2 check, so the rates
/// match and the answer's timing does not tell which emails have accounts.
async fn sign_ins(platform: &Arc<Platform>) {
    use aicloud::platform::iam::Caller;
    platform
        .people
        .create_user(
            &Caller::Console("bench".into()),
            "known@bench.example",
            "Known",
            "a long bench passphrase",
        )
        .await
        .expect("user");
    const N: usize = 20;
    for (label, email) in [
        (
            "sign-in, wrong password, known email",
            "known@bench.example",
        ),
        ("sign-in, unknown email", "nobody@bench.example"),
    ] {
        let started = Instant::now();
        for n in 0..N {
            let ip = format!("10.{}.0.{n}", label.len());
            let refused = platform
                .people
                .sign_in(email, "not the password", &ip)
                .await;
            assert!(refused.is_err());
        }
        println!("{label:<44} {:>14.1}", rate(N, started));
    }
}
