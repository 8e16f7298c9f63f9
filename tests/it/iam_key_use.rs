//! Keys across processes: revocation seen by a second server process within a second.

use std::time::{Duration, Instant};

use aicloud::platform::iam::{IssuedKey, KeyHolder, NewKey};

use crate::helpers::{ServerProcess, TestDb};
use crate::iam_keys::{console, in_process_tenant};

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
