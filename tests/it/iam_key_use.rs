//! Keys across processes and over time: revocation seen by a second server process within
//! a second; last uses gathered in memory and written in batches, and on a graceful stop.

use std::time::{Duration, Instant};

use aicloud::platform::iam::{IssuedKey, KeyHolder, NewKey};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use time::OffsetDateTime;

use crate::helpers::{ServerProcess, TestApp, TestDb, aicloud};
use crate::iam_keys::{console, in_process_tenant, issue, me, tenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_server_processes_on_one_database_a_revoke_through_one_is_denied_by_the_other_within_a_second()
 {
    let db = TestDb::create();
    let (platform, _, sa) = in_process_tenant(&db).await;
    // Keys act inside their own project: the manager is a key of acme's project too.
    let manager = issue_in_process(&platform, sa.id, "platform.keys.manage").await;
    let client = issue_in_process(&platform, sa.id, "token_factory.inference").await;
    let (a, b) = (
        ServerProcess::start(&db, &[]),
        ServerProcess::start(&db, &[]),
    );
    let http = reqwest::Client::new();
    for (server, key) in [
        (&a, &manager.secret),
        (&a, &client.secret),
        (&b, &client.secret),
    ] {
        wait_until_accepted(&http, &server.url, key).await;
    }

    let revoked = http
        .post(format!(
            "{}api/v1/iam/orgs/acme/projects/default/keys/{}/revoke",
            a.url, client.key.prefix
        ))
        .bearer_auth(&manager.secret)
        .send()
        .await
        .expect("sent");
    let status = revoked.status();
    let body = revoked.text().await.expect("body");
    assert_eq!(status, 200, "process A revokes the key: {body}");
    let started = Instant::now();
    let mut answer = me_at(&http, &b.url, &client.secret).await.status();
    while answer == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "process B still accepts the key a second after process A revoked it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = me_at(&http, &b.url, &client.secret).await.status();
    }

    assert_eq!(answer, 401, "process B denies the revoked key");
    assert_eq!(me_at(&http, &a.url, &client.secret).await.status(), 401);
    drop((a, b));
}

#[tokio::test]
async fn a_keys_last_use_is_written_in_batches_never_once_per_request() {
    let app = TestApp::spawn_with(&[("AICLOUD__IAM__LAST_USED_FLUSH_SECS", "1")]).await;
    tenant(&app).await;
    let issued: serde_json::Value =
        serde_json::from_slice(&issue(&app, "token_factory.inference").stdout).expect("json");
    let secret = issued["secret"].as_str().expect("secret").to_owned();
    let prefix = issued["key"]["prefix"].as_str().expect("prefix").to_owned();
    log_writes_to_keys(&app.db);
    assert_eq!(
        listed_key(&app, &prefix)["last_used_at"],
        serde_json::Value::Null
    );

    let first_started = OffsetDateTime::now_utc();
    app.wait_for_key(&secret).await;
    let first_burst = burst(&app, &secret).await;
    let first = last_used_after(&app.db, &prefix, None).await;
    let second_burst = burst(&app, &secret).await;
    let second = last_used_after(&app.db, &prefix, Some(first)).await;

    assert!(first >= first_started, "{first} is a time of use");
    let listed = listed_key(&app, &prefix)["last_used_at"].clone();
    let listed = OffsetDateTime::parse(
        listed.as_str().expect("listed with a last use"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("an RFC 3339 time");
    assert_eq!(listed, second, "the key list shows the last use");
    // A flush writes what gathered since the last one: at most one write per flush that can
    // fall inside a burst, plus the one after it.
    let bound = [first_burst, second_burst]
        .iter()
        .map(|burst| burst.as_secs() + 2)
        .sum::<u64>();
    let writes = writes_to_key(&app.db, &prefix);
    assert!(
        (2..=bound as i64).contains(&writes),
        "{writes} UPDATEs of the key for {} requests (at most {bound} flushes)",
        2 * BURST
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uses_not_yet_written_are_written_when_the_server_stops_gracefully() {
    let db = TestDb::create();
    let (platform, _, sa) = in_process_tenant(&db).await;
    let client = issue_in_process(&platform, sa.id, "token_factory.inference").await;
    let server = ServerProcess::start(&db, &[("AICLOUD__IAM__LAST_USED_FLUSH_SECS", "3600")]);
    let http = reqwest::Client::new();
    wait_until_accepted(&http, &server.url, &client.secret).await;
    assert_eq!(
        last_used(&db, &client.key.prefix),
        None,
        "the next periodic write is an hour away"
    );

    let exit = server.terminate();

    assert!(exit.success(), "{exit:?}");
    assert!(
        last_used(&db, &client.key.prefix).is_some(),
        "the use was written on the way out"
    );
}

/// Requests per burst of use.
const BURST: usize = 30;

/// Uses the key `BURST` times, each accepted; returns how long that took.
async fn burst(app: &TestApp, secret: &str) -> Duration {
    let started = Instant::now();
    for _ in 0..BURST {
        assert_eq!(me(app, secret).await.status(), 200);
    }
    started.elapsed()
}

/// Records, in `public.key_writes`, the transaction of every UPDATE of an API key row: one
/// flush, one transaction.
fn log_writes_to_keys(db: &TestDb) {
    let mut conn = db.connect();
    for statement in [
        "CREATE TABLE public.key_writes (txid bigint NOT NULL, prefix text NOT NULL)",
        "CREATE FUNCTION public.log_key_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
         SET search_path = pg_catalog AS $$ BEGIN \
         INSERT INTO public.key_writes VALUES (txid_current(), NEW.prefix); RETURN NULL; END $$",
        "CREATE TRIGGER log_key_write AFTER UPDATE ON iam.api_keys FOR EACH ROW \
         EXECUTE FUNCTION public.log_key_write()",
    ] {
        diesel::sql_query(statement)
            .execute(&mut conn)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

#[derive(QueryableByName)]
struct Writes {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many transactions updated the key with `prefix`.
fn writes_to_key(db: &TestDb, prefix: &str) -> i64 {
    diesel::sql_query("SELECT count(DISTINCT txid) AS n FROM public.key_writes WHERE prefix = $1")
        .bind::<Text, _>(prefix)
        .get_result::<Writes>(&mut db.connect())
        .expect("writes counted")
        .n
}

#[derive(QueryableByName)]
struct LastUsed {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<OffsetDateTime>,
}

/// The key's `last_used_at` as stored.
fn last_used(db: &TestDb, prefix: &str) -> Option<OffsetDateTime> {
    diesel::sql_query("SELECT last_used_at FROM iam.api_keys WHERE prefix = $1")
        .bind::<Text, _>(prefix)
        .get_result::<LastUsed>(&mut db.connect())
        .expect("key row")
        .last_used_at
}

/// Waits (up to 5 s, with writes every second) until the stored last use is later than
/// `after`, and returns it.
async fn last_used_after(
    db: &TestDb,
    prefix: &str,
    after: Option<OffsetDateTime>,
) -> OffsetDateTime {
    let started = Instant::now();
    loop {
        if let Some(at) = last_used(db, prefix).filter(|at| Some(*at) > after) {
            return at;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the last use was not written within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The key with `prefix` as `aicloud key list --json` shows it.
fn listed_key(app: &TestApp, prefix: &str) -> serde_json::Value {
    let listed = aicloud(&app.db, &["key", "list", "acme", "default", "--json"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let keys: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).expect("json");
    keys.into_iter()
        .find(|k| k["prefix"] == prefix)
        .expect("the key is listed")
}

/// GET /api/v1/iam/me on the server at `base` with `secret` as the bearer.
async fn me_at(http: &reqwest::Client, base: &str, secret: &str) -> reqwest::Response {
    http.get(format!("{base}api/v1/iam/me"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("sent")
}

/// Waits until the server at `base` accepts `secret` (it learns of keys by NOTIFY).
async fn wait_until_accepted(http: &reqwest::Client, base: &str, secret: &str) {
    for _ in 0..100 {
        if me_at(http, base, secret).await.status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{base} never accepted the key");
}

/// A key of the service account `sa` holding `scope`, issued from the console.
async fn issue_in_process(
    platform: &aicloud::app::Platform,
    sa: uuid::Uuid,
    scope: &str,
) -> IssuedKey {
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa),
        name: "client".into(),
        scopes: vec![scope.into()],
        model_allowlist: None,
        expires_at: None,
    };
    platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("issued")
}
