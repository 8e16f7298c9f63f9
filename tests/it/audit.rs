//! Audit custody: one gapless chain under concurrency, tamper detection of every kind,
//! append-only enforcement, fail-closed actions, and the HTTP surface.

use std::sync::Arc;

use aicloud::platform::audit::{Actor, BreakKind, NewEvent};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::helpers::{TestApp, TestDb, platform_for};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count_events(conn: &mut PgConnection) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM audit.events")
        .get_result::<Count>(conn)
        .expect("count")
        .n
}

/// An event the platform packet declares (`platform.api_key.issued` acts on `api_key`).
fn key_issued(n: usize) -> NewEvent {
    let mut event = NewEvent::new(
        Actor::system("test"),
        "platform.api_key.issued",
        "api_key",
        &format!("key-{n}"),
    );
    event.details = serde_json::json!({ "n": n, "note": "a test event" });
    event
}

async fn seeded(db: &TestDb, count: usize) -> Arc<aicloud::app::Platform> {
    let platform = platform_for(db, &[]).await;
    let events = (0..count).map(key_issued).collect();
    platform.audit.append_batch(events).await.expect("appended");
    platform
}

fn sql(conn: &mut PgConnection, statement: &str) {
    diesel::sql_query(statement)
        .execute(conn)
        .unwrap_or_else(|err| panic!("{statement}: {err}"));
}

/// As the owner, with the append-only triggers off: what a tamperer with full rights does.
fn tamper(db: &TestDb, statements: &[&str]) {
    let mut conn = db.connect();
    sql(&mut conn, "ALTER TABLE audit.events DISABLE TRIGGER USER");
    for statement in statements {
        sql(&mut conn, statement);
    }
    sql(&mut conn, "ALTER TABLE audit.events ENABLE TRIGGER USER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_from_sixteen_threads_form_one_gapless_chain_that_verifies() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    let already = count_events(&mut db.connect());

    let threads: Vec<_> = (0..16)
        .map(|t| {
            let audit = Arc::clone(&platform.audit);
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connection");
                for i in 0..25 {
                    conn.transaction(|conn| {
                        audit.append_in(conn, key_issued(t * 100 + i)).map(|_| ())
                    })
                    .expect("append");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("thread");
    }

    let report = platform.audit.verify(None).await.expect("verify runs");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked as i64, already + 400);
    assert_eq!(report.verified_through, already + 400);
    let mut conn = db.connect();
    let distinct: i64 = diesel::sql_query("SELECT count(DISTINCT seq) AS n FROM audit.events")
        .get_result::<Count>(&mut conn)
        .expect("count")
        .n;
    assert_eq!(distinct, already + 400, "no duplicate seq");
}

#[tokio::test]
async fn a_row_changed_as_the_owner_breaks_verification_at_exactly_that_seq() {
    let db = TestDb::create();
    let platform = seeded(&db, 12).await;

    tamper(
        &db,
        &["UPDATE audit.events SET reason = 'nothing happened' WHERE seq = 7"],
    );
    let report = platform.audit.verify(None).await.expect("verify runs");

    let found = report.first_break.expect("a break");
    assert_eq!((found.seq, found.kind), (7, BreakKind::Modified));
    assert_eq!(report.verified_through, 6);
}

#[tokio::test]
async fn a_deleted_row_is_reported_missing() {
    let db = TestDb::create();
    let platform = seeded(&db, 12).await;

    tamper(&db, &["DELETE FROM audit.events WHERE seq = 9"]);
    let found = platform
        .audit
        .verify(None)
        .await
        .expect("verify")
        .first_break
        .expect("a break");

    assert_eq!((found.seq, found.kind), (9, BreakKind::Missing));
}

#[tokio::test]
async fn a_swapped_pair_is_reported_reordered() {
    let db = TestDb::create();
    let platform = seeded(&db, 12).await;

    tamper(
        &db,
        &[
            "UPDATE audit.events SET seq = 1000005 WHERE seq = 5",
            "UPDATE audit.events SET seq = 5 WHERE seq = 6",
            "UPDATE audit.events SET seq = 6 WHERE seq = 1000005",
        ],
    );
    let found = platform
        .audit
        .verify(None)
        .await
        .expect("verify")
        .first_break
        .expect("a break");

    assert_eq!((found.seq, found.kind), (5, BreakKind::Reordered));
}

#[tokio::test]
async fn the_server_role_cannot_update_or_delete_and_the_trigger_stops_the_owner() {
    let db = TestDb::create();
    seeded(&db, 3).await;
    let mut server = db.connect_as_server();
    let mut owner = db.connect();

    let update = diesel::sql_query("UPDATE audit.events SET reason = 'x'").execute(&mut server);
    let delete = diesel::sql_query("DELETE FROM audit.events").execute(&mut server);
    let truncate = diesel::sql_query("TRUNCATE audit.events").execute(&mut server);
    let owner_update =
        diesel::sql_query("UPDATE audit.events SET reason = 'x'").execute(&mut owner);
    let owner_delete = diesel::sql_query("DELETE FROM audit.events").execute(&mut owner);

    for (what, result) in [
        ("update", update),
        ("delete", delete),
        ("truncate", truncate),
    ] {
        let err = result.expect_err(what).to_string();
        assert!(err.contains("permission denied"), "server {what}: {err}");
    }
    for (what, result) in [("update", owner_update), ("delete", owner_delete)] {
        let err = result.expect_err(what).to_string();
        assert!(err.contains("append-only"), "owner {what}: {err}");
    }
    assert_eq!(
        count_events(&mut owner),
        4,
        "onboarding's event and the three appended"
    );
}

#[tokio::test]
async fn an_unregistered_action_is_rejected_and_nothing_is_written() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    let before = count_events(&mut db.connect());

    let unknown = platform
        .audit
        .append(NewEvent::new(
            Actor::system("test"),
            "platform.moon.landed",
            "moon",
            "1",
        ))
        .await;
    let wrong_target = platform
        .audit
        .append(NewEvent::new(
            Actor::system("test"),
            "platform.api_key.issued",
            "model",
            "1",
        ))
        .await;
    let mut oversized = key_issued(1);
    oversized.details = serde_json::json!({ "blob": "x".repeat(9000) });
    let too_big = platform.audit.append(oversized).await;

    assert!(
        unknown
            .expect_err("unknown action")
            .to_string()
            .contains("not an active audit action")
    );
    assert!(
        wrong_target
            .expect_err("wrong target")
            .to_string()
            .contains("acts on `api_key`")
    );
    assert!(
        too_big
            .expect_err("too big")
            .to_string()
            .contains("over the limit")
    );
    assert_eq!(count_events(&mut db.connect()), before);
}

#[tokio::test]
async fn a_tampered_digest_is_reported_as_a_bad_digest() {
    let key = aicloud::platform::audit::signing::generate().expect("key");
    let db = TestDb::create();
    let platform = platform_for(&db, &[("AICLOUD__AUDIT__SIGNING_KEY", &key)]).await;
    platform
        .audit
        .append_batch((0..4).map(key_issued).collect())
        .await
        .expect("appended");
    let digest = platform
        .audit
        .sign_digest()
        .await
        .expect("signed")
        .expect("a digest");
    assert!(platform.audit.verify(None).await.expect("verify").ok);

    let mut owner = db.connect();
    sql(&mut owner, "ALTER TABLE audit.digests DISABLE TRIGGER USER");
    sql(
        &mut owner,
        &format!(
            "UPDATE audit.digests SET seq_to = seq_to - 1 WHERE number = {}",
            digest.number
        ),
    );
    let found = platform
        .audit
        .verify(None)
        .await
        .expect("verify")
        .first_break
        .expect("a break");

    assert_eq!(found.kind, BreakKind::BadDigest);
}

#[tokio::test]
async fn onboarding_is_audited_and_the_api_filters_and_pages_events() {
    let app = TestApp::spawn().await;
    for name in ["platform", "token-factory"] {
        let res = app
            .post(
                "/api/v1/registry/packets/onboard",
                "application/toml",
                crate::helpers::packet(name),
            )
            .await;
        assert_eq!(res.status(), 200);
    }

    let page = app
        .get_json("/api/v1/audit/events?action=platform.product.onboarded&limit=1")
        .await;
    let next = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let older = app
        .get_json(&format!(
            "/api/v1/audit/events?action=platform.product.onboarded&cursor={next}"
        ))
        .await;

    assert_eq!(page["events"][0]["target_id"], "token_factory");
    assert_eq!(
        page["events"][0]["retention_class"],
        "platform.retention.audit_7y"
    );
    assert_eq!(older["events"][0]["target_id"], "platform");
    assert!(older["next_cursor"].is_null());
    let id = older["events"][0]["id"].as_str().expect("id");
    let one = app.get_json(&format!("/api/v1/audit/events/{id}")).await;
    assert_eq!(one["seq"], 1);
    let verified = app.get_json("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true);
    assert_eq!(
        app.get("/api/v1/audit/events?result=maybe").await.status(),
        422
    );
    assert_eq!(
        app.get("/api/v1/audit/events/01a2249c-13ce-73a9-bb5d-617f21e2d49f")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("/api/v1/audit/public-key").await.status(),
        404,
        "no key configured"
    );
}

#[tokio::test]
async fn a_refused_onboard_writes_no_audit_event() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    let before = count_events(&mut db.connect());
    let broken = crate::helpers::edited(&crate::helpers::packet("token-factory"), |t| {
        t.remove("billing");
    });

    let refused = platform
        .registry
        .onboard(
            aicloud::platform::registry::PacketSource {
                origin: "broken".into(),
                text: broken,
                format: aicloud::platform::registry::Format::Toml,
            },
            Actor::system("test"),
        )
        .await;

    assert!(refused.is_err());
    assert_eq!(count_events(&mut db.connect()), before);
}

#[tokio::test]
async fn the_server_signs_digests_periodically_and_serves_the_public_key() {
    let key = aicloud::platform::audit::signing::generate().expect("key");
    let app = TestApp::spawn_with(&[
        ("AICLOUD__AUDIT__SIGNING_KEY", &key),
        ("AICLOUD__AUDIT__DIGEST_INTERVAL_SECS", "1"),
    ])
    .await;
    let res = app
        .post(
            "/api/v1/registry/packets/onboard",
            "application/toml",
            crate::helpers::packet("platform"),
        )
        .await;
    assert_eq!(res.status(), 200);

    let mut digests = serde_json::Value::Null;
    for _ in 0..40 {
        digests = app.get_items("/api/v1/audit/digests").await;
        if digests.as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let public = app.get_json("/api/v1/audit/public-key").await;

    assert_eq!(digests[0]["seq_from"], 1, "{digests:#}");
    assert_eq!(digests[0]["key_id"], public["key_id"]);
    assert_eq!(public["algorithm"], "ed25519");
    let verified = app.get_json("/api/v1/audit/verify").await;
    assert_eq!(verified["digests_checked"], 1, "{verified:#}");
}
