//! Billing's figures: usage ingestion per second in-process (batches of 1,000, one caller
//! and eight at once), capture as the gateway does it (64 callers, one request's usage
//! each) and over HTTP (batches of 100 and 1,000), idempotency on, beside a
//! plain multi-row INSERT of the same rows into a scratch table; and the spend guard's
//! reserve + settle per second, from memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aicloud::app::{Application, Platform};
use aicloud::base::config::Settings;
use aicloud::platform::billing::{
    Credit, Estimate, NewPrice, UsageActor, UsageActorKind, UsageEvent,
};
use aicloud::platform::iam::{
    Caller, CreatedOrganization, KeyHolder, NewKey, OrgKind, OrganizationId, ProjectId,
};
use diesel::{Connection, PgConnection};
use rust_decimal::Decimal;

use super::{rate, sql};

const BATCH: usize = 1_000;
const BATCHES: usize = 50;
const INPUT: &str = "token_factory.input_tokens";
const REQUESTS: &str = "token_factory.requests";

fn console() -> Caller {
    Caller::Console("bench".into())
}

fn event(org: &CreatedOrganization, id: String, unit: &str) -> UsageEvent {
    UsageEvent {
        event_id: id,
        product: "token_factory".into(),
        unit: unit.into(),
        quantity: Decimal::from(1200),
        organization_id: org.organization.id,
        department_id: org.department.id,
        project_id: org.project.id,
        actor: UsageActor {
            kind: UsageActorKind::ApiKey,
            id: "tf_bench".into(),
        },
        resource_type: "token_factory.model".into(),
        resource_id: "demo".into(),
        usage_source: "token_factory.gateway".into(),
        occurred_at: time::OffsetDateTime::now_utc(),
        correlation_id: Some("bench".into()),
        attributes: serde_json::Map::new(),
    }
}

fn batches(
    org: &CreatedOrganization,
    tag: &str,
    size: usize,
    count: usize,
) -> Vec<Vec<UsageEvent>> {
    (0..count)
        .map(|b| {
            (0..size)
                .map(|i| event(org, format!("{tag}-{b}-{i}"), INPUT))
                .collect()
        })
        .collect()
}

/// An organization with prices and money, for the figures below.
async fn funded(platform: &Platform) -> CreatedOrganization {
    super::token_factory_onboarded(platform).await;
    let org = platform
        .iam
        .create_organization(
            &console(),
            "bench-billing",
            "Bench billing",
            OrgKind::Team,
            None,
        )
        .await
        .expect("org");
    for (unit, price) in [(INPUT, "0.000015"), (REQUESTS, "1")] {
        let price = NewPrice {
            product: "token_factory".into(),
            unit: unit.into(),
            resource_type: Some("token_factory.model".into()),
            resource_id: None,
            currency: "USD".into(),
            unit_price_minor: price.parse().expect("price"),
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
        amount_minor: 1_000_000_000,
        reason: "bench".into(),
    };
    platform
        .ledger
        .top_up(&console(), "bench-billing", credit)
        .await
        .expect("top-up");
    org
}

pub async fn billing(platform: &Arc<Platform>, owner_db: &str, server_db: &str) {
    let org = funded(platform).await;
    let events = BATCH * BATCHES;

    let started = Instant::now();
    for batch in batches(&org, "one", BATCH, BATCHES) {
        platform
            .metering
            .ingest(&console(), batch)
            .await
            .expect("ingest");
    }
    println!(
        "{:<44} {:>14.0}",
        "usage ingest in-process, 1 caller, x1000",
        rate(events, started)
    );

    let started = Instant::now();
    let callers: Vec<_> = batches(&org, "eight", BATCH, BATCHES)
        .chunks(BATCHES / 8 + 1)
        .map(|mine| {
            let (metering, mine) = (platform.metering.clone(), mine.to_vec());
            tokio::spawn(async move {
                for batch in mine {
                    metering.ingest(&console(), batch).await.expect("ingest");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller");
    }
    println!(
        "{:<44} {:>14.0}",
        "usage ingest in-process, 8 callers, x1000",
        rate(events, started)
    );

    let started = Instant::now();
    for batch in batches(&org, "one", BATCH, 10) {
        let results = platform
            .metering
            .ingest(&console(), batch)
            .await
            .expect("ingest");
        assert!(
            results
                .iter()
                .all(|r| r.outcome == aicloud::platform::billing::Outcome::Duplicate)
        );
    }
    println!(
        "{:<44} {:>14.0}",
        "usage ingest in-process, all duplicates",
        rate(BATCH * 10, started)
    );

    capture_like_the_gateway(platform, &org, owner_db).await;
    baseline(&org, owner_db, events);
    over_http(platform, &org, owner_db, server_db).await;
    guard(platform, &org);
}

/// Callers at once in the gateway-shaped capture run, and the requests they capture.
const CAPTURERS: usize = 64;
const CAPTURED_REQUESTS: usize = 20_000;

/// As the gateway captures: 64 callers at once, each capturing one request's usage (three
/// events) at a time; requests per second until every capture is answered, and until the
/// poster has rated and posted them all.
async fn capture_like_the_gateway(
    platform: &Arc<Platform>,
    org: &CreatedOrganization,
    owner_db: &str,
) {
    let started = Instant::now();
    let callers: Vec<_> = (0..CAPTURERS)
        .map(|c| {
            let (metering, org) = (platform.metering.clone(), org.clone());
            tokio::spawn(async move {
                for r in (c..CAPTURED_REQUESTS).step_by(CAPTURERS) {
                    let usage = [INPUT, "token_factory.output_tokens", REQUESTS]
                        .map(|unit| event(&org, format!("req-{r}:{unit}"), unit));
                    metering
                        .capture(&console(), usage.to_vec())
                        .await
                        .expect("capture");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller");
    }
    let captured = rate(CAPTURED_REQUESTS, started);
    let mut conn = PgConnection::establish(owner_db).expect("owner");
    let waiting = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM billing.usage_captures WHERE posted_at IS NULL)",
    );
    while diesel::RunQueryDsl::get_result::<i64>(diesel::select(waiting.clone()), &mut conn)
        .expect("waiting")
        > 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    println!(
        "{:<44} {:>14.0}",
        "usage capture, 64 callers x3 (per request)", captured
    );
    println!(
        "{:<44} {:>14.0}",
        "  ... and rated and posted (per request)",
        rate(CAPTURED_REQUESTS, started)
    );
}

/// The same rows, one multi-row INSERT per 1,000, into a table with no constraint.
fn baseline(org: &CreatedOrganization, owner_db: &str, events: usize) {
    let mut conn = PgConnection::establish(owner_db).expect("owner");
    sql(
        &mut conn,
        "CREATE TABLE public.bench_usage (LIKE billing.usage_events)",
    );
    let batches = batches(org, "plain", BATCH, BATCHES);
    let started = Instant::now();
    for batch in &batches {
        let values: Vec<String> = batch
            .iter()
            .map(|e| {
                format!(
                    "('{}', '{}', '{}', '{}', {}, '{}', '{}', '{}', 'api_key', '{}', '{}', '{}', '{}', now(), now(), 'bench', '{{}}', '{}')",
                    uuid::Uuid::now_v7(), e.product, e.event_id, e.unit, e.quantity, e.organization_id,
                    e.department_id, e.project_id, e.actor.id, e.resource_type, e.resource_id,
                    e.usage_source, uuid::Uuid::now_v7()
                )
            })
            .collect();
        sql(
            &mut conn,
            &format!("INSERT INTO public.bench_usage VALUES {}", values.join(",")),
        );
    }
    println!(
        "{:<44} {:>14.0}",
        "baseline: plain multi-row INSERT, x1000",
        rate(events, started)
    );
    sql(&mut conn, "DROP TABLE public.bench_usage");
}

/// A second server over the same database, and a key that may submit usage.
async fn over_http(
    platform: &Arc<Platform>,
    org: &CreatedOrganization,
    owner_db: &str,
    server_db: &str,
) {
    let env = HashMap::from([
        ("DATABASE_URL".to_owned(), server_db.to_owned()),
        ("DATABASE_OWNER_URL".to_owned(), owner_db.to_owned()),
        ("AICLOUD__SERVER__PORT".to_owned(), "0".to_owned()),
        ("AICLOUD__LOG__LEVEL".to_owned(), "warn".to_owned()),
    ]);
    let settings =
        Settings::load_from(Path::new("config/default.toml"), None, env).expect("settings");
    let app = Application::build(settings).await.expect("server");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let sa = platform
        .keys
        .create_service_account(
            &console(),
            "bench-billing",
            "default",
            "publisher",
            "bench",
            "usage",
        )
        .await
        .expect("service account");
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "publisher".into(),
        scopes: vec![
            "platform.admin".into(),
            "platform.billing.usage_ingest".into(),
        ],
        model_allowlist: None,
        expires_at: None,
    };
    let secret = platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("key")
        .secret;
    let client = reqwest::Client::new();
    // The second server learns of the key by NOTIFY.
    for _ in 0..200 {
        let me = client
            .get(format!("{base}/api/v1/iam/me"))
            .bearer_auth(&secret)
            .send()
            .await;
        if me.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for (size, count) in [(100, 200), (1000, 20)] {
        let bodies: Vec<String> = batches(org, &format!("http{size}"), size, count)
            .into_iter()
            .map(|events| serde_json::json!({ "events": events }).to_string())
            .collect();
        let started = Instant::now();
        let sends: Vec<_> = bodies
            .chunks(count / 8)
            .map(|mine| {
                let (client, url, secret, mine) = (
                    client.clone(),
                    format!("{base}/api/v1/billing/usage"),
                    secret.clone(),
                    mine.to_vec(),
                );
                tokio::spawn(async move {
                    for body in mine {
                        let res = client
                            .post(&url)
                            .bearer_auth(&secret)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                            .expect("sent");
                        assert_eq!(res.status(), 200, "{:?}", res.text().await);
                    }
                })
            })
            .collect();
        for send in sends {
            send.await.expect("sender");
        }
        let label = format!("usage ingest over HTTP, 8 clients, x{size}");
        println!("{label:<44} {:>14.0}", rate(size * count, started));
    }
}

/// Reserve then settle one request's worst case, from memory.
fn guard(platform: &Arc<Platform>, org: &CreatedOrganization) {
    const N: usize = 1_000_000;
    let worst = vec![Estimate {
        product: "token_factory".into(),
        unit: INPUT.into(),
        resource_type: "token_factory.model".into(),
        resource_id: "demo".into(),
        quantity: Decimal::from(4096),
    }];
    let (o, p) = (
        OrganizationId(org.organization.id),
        ProjectId(org.project.id),
    );
    let started = Instant::now();
    for _ in 0..N {
        let hold = platform
            .spend
            .reserve(o, p, std::hint::black_box(&worst))
            .expect("reserved");
        platform.spend.settle(hold, &worst);
    }
    println!(
        "{:<44} {:>14.0}",
        "spend guard reserve + settle, 1 thread",
        rate(N, started)
    );
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..N / 2 {
                    let hold = platform.spend.reserve(o, p, &worst).expect("reserved");
                    platform.spend.settle(hold, &worst);
                }
            });
        }
    });
    println!(
        "{:<44} {:>14.0}",
        "spend guard reserve + settle, 2 threads",
        rate(N, started)
    );
}
