//! Two tenants to test access with, and small HTTP helpers for their keys and sessions.

use std::time::{Duration, Instant};

use aicloud::app::Platform;
use aicloud::platform::iam::{Caller, KeyHolder, NewKey, Target, User};
use serde_json::{Value, json};

use crate::helpers::{TestApp, csrf_in, packet, platform_for};

pub const PASSWORD: &str = "a long test passphrase";

/// Two tenants: `org-a` owned by alice (with carol as admin and dave as a member who
/// develops in its default project), `org-b` owned by bob; each holds a user key.
pub struct Tenants {
    pub app: TestApp,
    pub platform: std::sync::Arc<Platform>,
    pub alice: User,
    pub alice_key: String,
    pub bob_key: String,
    pub carol_key: String,
    pub dave_key: String,
}

pub async fn user(platform: &Platform, email: &str) -> User {
    let actor = aicloud::platform::iam::Caller::Console("test".into());
    platform
        .people
        .create_user(&actor, email, email, PASSWORD)
        .await
        .expect("user")
}

/// A key of `user` in `org`'s default project, with every scope they hold there but `except`.
pub async fn user_key(
    tenants: (&TestApp, &Platform),
    user: &User,
    org: &str,
    scopes: &[&str],
) -> String {
    let (app, platform) = tenants;
    let caller = Caller::User(user.clone());
    let place = platform
        .access
        .authorize(
            &caller,
            "platform.iam.read",
            Target::project(org, "default"),
        )
        .await
        .expect("member of the project");
    let key = NewKey {
        holder: KeyHolder::User(user.id, place.project().expect("project").id),
        name: format!("{} key", user.email),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        model_allowlist: None,
        expires_at: None,
    };
    let secret = platform
        .keys
        .issue_key(&caller, key)
        .await
        .expect("issued")
        .secret;
    app.wait_for_key(&secret).await;
    secret
}

/// Every scope of the registry role `platform.org_owner`.
pub const OWNER_SCOPES: [&str; 9] = [
    "platform.org.manage",
    "platform.iam.read",
    "platform.iam.write",
    "platform.keys.manage",
    "platform.billing.read",
    "platform.policy.read",
    "platform.policy.write",
    "platform.audit.read",
    "platform.decisions.check",
];
/// Every scope of `platform.org_admin`.
pub const ADMIN_SCOPES: [&str; 8] = [
    "platform.iam.read",
    "platform.iam.write",
    "platform.keys.manage",
    "platform.billing.read",
    "platform.policy.read",
    "platform.policy.write",
    "platform.audit.read",
    "platform.decisions.check",
];

pub async fn api(
    app: &TestApp,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("sent")
}

pub async fn mint(app: &TestApp, key: &str, scopes: Value) -> reqwest::Response {
    let keys = "/api/v1/iam/orgs/org-a/projects/default/keys";
    let body = json!({ "name": "minted", "scopes": scopes });
    api(app, key, "POST", keys, Some(body)).await
}

pub async fn member(app: &TestApp, key: &str, email: &str, role: &str) -> reqwest::Response {
    let path = format!("/api/v1/iam/orgs/org-a/members/{email}");
    api(app, key, "PUT", &path, Some(json!({ "role": role }))).await
}

pub async fn tenants() -> Tenants {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await.to_owned();
    let res = app
        .post(
            "/api/v1/registry/packets/onboard",
            "application/toml",
            packet("token-factory"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let platform = platform_for(&app.db, &[]).await;
    let alice = user(&platform, "alice@a.example").await;
    let bob = user(&platform, "bob@b.example").await;
    let carol = user(&platform, "carol@a.example").await;
    let dave = user(&platform, "dave@a.example").await;
    for (slug, owner) in [("org-a", &alice), ("org-b", &bob)] {
        let res = api(
            &app,
            &admin,
            "POST",
            "/api/v1/iam/orgs",
            Some(json!({
                "slug": slug, "name": slug, "owner": owner.email,
            })),
        )
        .await;
        assert_eq!(
            res.status(),
            201,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }
    let alice_key = user_key((&app, &platform), &alice, "org-a", &OWNER_SCOPES).await;
    let bob_key = user_key((&app, &platform), &bob, "org-b", &OWNER_SCOPES).await;
    // The platform adds them directly; a tenant would have to invite them.
    for (email, role) in [("carol@a.example", "admin"), ("dave@a.example", "member")] {
        let path = format!("/api/v1/iam/orgs/org-a/members/{email}");
        let res = api(&app, &admin, "PUT", &path, Some(json!({ "role": role }))).await;
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }
    let path = "/api/v1/iam/orgs/org-a/projects/default/members/dave@a.example";
    let res = api(
        &app,
        &alice_key,
        "PUT",
        path,
        Some(json!({ "role": "developer" })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let carol_key = user_key((&app, &platform), &carol, "org-a", &ADMIN_SCOPES).await;
    let dave_scopes = ["platform.iam.read", "platform.keys.manage"];
    let dave_key = user_key((&app, &platform), &dave, "org-a", &dave_scopes).await;
    Tenants {
        app,
        platform,
        alice,
        alice_key,
        bob_key,
        carol_key,
        dave_key,
    }
}

/// A browser signed in as `email`, and its CSRF token for API writes.
pub async fn session(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let browser = app.sign_in(email, PASSWORD).await;
    let home = browser
        .get(app.url("/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    (browser, csrf_in(&home))
}

/// Waits (at most a second) until `key` is refused.
pub async fn denied_within_a_second(app: &TestApp, key: &str) {
    let started = Instant::now();
    while api(app, key, "GET", "/api/v1/iam/me", None).await.status() != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the key still works after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The audit events recorded for `action`, read with the platform administrator's key.
pub async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let page = app
        .get_json(&format!("/api/v1/audit/events?action={action}"))
        .await;
    page["events"].as_array().expect("events").clone()
}
