//! Every response carries the standard security headers; nothing dynamic is cached; the
//! session cookie's `Secure` flag follows configuration, never the client.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, cookie_client, csrf_in};

fn assert_hardened(res: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_owned()
    };
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
}

#[tokio::test]
async fn pages_apis_errors_and_assets_all_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let anonymous = |path: &str| app.client.get(app.url(path)).send();

    for (what, res) in [
        ("a page", app.page("/").await),
        ("the login page", anonymous("/login").await.expect("sent")),
        ("an API answer", app.get("/api/v1/iam/me").await),
        ("a 404", app.get("/api/v1/nothing").await),
        ("a redirect", anonymous("/audit").await.expect("sent")),
        ("a probe", anonymous("/healthz").await.expect("sent")),
        (
            "an asset",
            anonymous("/static/app.css").await.expect("sent"),
        ),
    ] {
        assert_hardened(&res, what);
    }
}

#[tokio::test]
async fn responses_that_may_carry_a_secret_are_never_stored_while_assets_still_cache() {
    let app = TestApp::spawn().await;
    let org = serde_json::json!({ "slug": "acme", "name": "Acme", "owner": ADMIN_EMAIL });
    app.page("/").await; // the administrator exists
    let created = app
        .client
        .post(app.url("/api/v1/iam/orgs"))
        .bearer_auth(app.admin_key().await)
        .json(&org)
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), 201);
    let invited = app
        .client
        .post(app.url("/api/v1/iam/orgs/acme/invitations"))
        .bearer_auth(app.admin_key().await)
        .json(&serde_json::json!({ "email": "new@acme.example", "role": "member" }))
        .send()
        .await
        .expect("sent");

    assert_eq!(invited.status(), 201);
    assert_eq!(
        invited.headers()["cache-control"],
        "no-store",
        "an invitation token"
    );
    assert_eq!(
        app.page("/access").await.headers()["cache-control"],
        "no-store"
    );
    let css = app.client.get(app.url("/static/app.css")).send().await;
    let css = css.expect("sent");
    assert_ne!(
        css.headers()["cache-control"],
        "no-store",
        "assets keep their caching"
    );
}

async fn session_cookie(app: &TestApp, forwarded_proto: &str) -> String {
    let client = cookie_client();
    let form = client.get(app.url("/login")).send().await.expect("page");
    let csrf = csrf_in(&form.text().await.expect("html"));
    let res = client
        .post(app.url("/login"))
        .header("x-forwarded-proto", forwarded_proto)
        .header("x-forwarded-for", "203.0.113.7")
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 303);
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("aicloud_session="))
        .expect("a session cookie")
        .to_owned()
}

#[tokio::test]
async fn a_client_cannot_choose_the_secure_flag_of_its_cookie() {
    let app = TestApp::spawn().await;
    app.page("/").await; // the administrator exists

    let cookie = session_cookie(&app, "https").await;

    assert!(
        !cookie.contains("Secure"),
        "the client claimed HTTPS: {cookie}"
    );
}

#[tokio::test]
async fn an_https_public_url_makes_the_session_cookie_secure() {
    let app =
        TestApp::spawn_with(&[("AICLOUD__SERVER__PUBLIC_URL", "https://cloud.example")]).await;
    app.page("/").await; // the administrator exists

    let cookie = session_cookie(&app, "http").await;

    assert!(cookie.contains("Secure"), "{cookie}");
}
