//! After a full flow against a real server process logging at debug level, no key secret,
//! password or session token appears in its logs or in any database column.

use std::io::Read;
use std::process::Stdio;

use diesel::prelude::*;

use crate::billing_payments::{completed, signature};
use crate::helpers::{
    KilledOnDrop, TestDb, admin_key_for, aicloud, aicloud_with_stdin, csrf_in, onboard_over_http,
    packet, platform_for, portal_url, server_command,
};

/// The Stripe webhook's signing secret the server is given.
const WEBHOOK_SECRET: &str = "whsec_scanned_for_4f1c9e";

#[derive(QueryableByName)]
struct Dump {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

/// Every row of every table in every schema but PostgreSQL's own, as text: a module added
/// later is scanned without a change here.
fn dump(db: &TestDb) -> String {
    let mut conn = db.connect();
    let tables: Vec<Dump> = diesel::sql_query(
        "SELECT format('%I.%I', table_schema, table_name) AS text FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
         AND table_type = 'BASE TABLE'",
    )
    .load(&mut conn)
    .expect("tables");
    tables
        .iter()
        .map(|t| {
            diesel::sql_query(format!(
                "SELECT coalesce(string_agg(t::text, E'\\n'), '') AS text FROM {} t",
                t.text
            ))
            .get_result::<Dump>(&mut conn)
            .expect("rows")
            .text
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_or_the_database() {
    let db = TestDb::create();
    let mut server = KilledOnDrop(
        server_command(&db)
            .env("RUST_LOG", "debug")
            .env("AICLOUD__BILLING__STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts"),
    );
    let mut stdout = server.stdout.take().expect("stdout");
    let mut banner = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).expect("read") == 1 && byte[0] != b'\n' {
        banner.push(byte[0]);
    }
    let banner = String::from_utf8_lossy(&banner).into_owned();
    let url = portal_url(&banner);
    let http = crate::helpers::cookie_client();
    let admin_key = admin_key_for(&*platform_for(&db, &[]).await).await;
    let onboard = |name: &str| onboard_over_http(&http, &url, &admin_key, packet(name));
    assert_eq!(onboard("platform").await.status(), 200);
    assert_eq!(onboard("token-factory").await.status(), 200);

    let password = "a long admin passphrase";
    assert!(
        aicloud_with_stdin(
            &db,
            &[
                "bootstrap",
                "--email",
                "admin@example.test",
                "--password-stdin"
            ],
            &format!("{password}\n")
        )
        .status
        .success()
    );
    assert!(
        aicloud(&db, &["org", "create", "acme", "--name", "Acme"])
            .status
            .success()
    );
    let sa = [
        "sa",
        "create",
        "acme",
        "default",
        "client",
        "--owner",
        "o",
        "--purpose",
        "p",
    ];
    assert!(aicloud(&db, &sa).status.success());
    let issued: serde_json::Value = serde_json::from_slice(
        &aicloud(
            &db,
            &[
                "key",
                "issue",
                "acme",
                "default",
                "--service-account",
                "client",
                "--name",
                "k",
                "--scopes",
                "token_factory.inference",
                "--json",
            ],
        )
        .stdout,
    )
    .expect("json");
    let secret = issued["secret"].as_str().expect("secret").to_owned();
    // The server learns of the key by NOTIFY: wait for that, not for a fixed time.
    let mut me = reqwest::StatusCode::UNAUTHORIZED;
    for _ in 0..100 {
        let res = http
            .get(format!("{url}api/v1/iam/me"))
            .bearer_auth(&secret)
            .send();
        me = res.await.expect("sent").status();
        if me == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(me, 200);
    let login_page = http
        .get(format!("{url}login"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    let login = http
        .post(format!("{url}login"))
        .form(&[
            ("email", "admin@example.test"),
            ("password", password),
            ("csrf", &csrf_in(&login_page)),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 303);
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("aicloud_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();

    let invited: serde_json::Value = http
        .post(format!("{url}api/v1/iam/orgs/acme/invitations"))
        .bearer_auth(&admin_key)
        .json(&serde_json::json!({ "email": "new@acme.example", "role": "member" }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("invitation");
    let invitation = invited["token"].as_str().expect("token").to_owned();
    let opened = http
        .get(format!("{url}invitations/{invitation}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        opened.status(),
        200,
        "the invitation link opens (and is logged)"
    );

    // A card payment credited, and one refused for its signature.
    let acme: serde_json::Value = http
        .get(format!("{url}api/v1/iam/orgs/acme"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("org");
    let event = completed("evt_scan", acme["id"].as_str().expect("id"), 500, "usd");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (header, status) in [
        (signature(WEBHOOK_SECRET, now, &event), 200),
        (signature("whsec_wrong", now, &event), 400),
    ] {
        let res = http
            .post(format!("{url}api/v1/billing/webhooks/stripe"))
            .header("stripe-signature", header)
            .body(event.clone())
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), status);
    }

    server.kill().expect("stopped");
    server.wait().expect("reaped");
    let mut logs = String::new();
    server
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs");
    let stored = dump(&db);
    let secret_part = secret.rsplit('_').next().expect("secret part").to_owned();
    assert!(
        logs.contains("/api/v1/iam/me") && logs.contains("GET /invitations/{token}"),
        "the flow is in the debug log: {logs}"
    );
    for (what, value) in [
        ("key secret", secret_part.as_str()),
        ("password", password),
        ("session token", session.as_str()),
        ("invitation token", invitation.as_str()),
        ("webhook signing secret", WEBHOOK_SECRET),
        (
            "administrator's key secret",
            admin_key.rsplit('_').next().expect("secret part"),
        ),
    ] {
        assert!(!logs.contains(value), "the {what} is in the logs");
        assert!(!stored.contains(value), "the {what} is in the database");
    }
}
