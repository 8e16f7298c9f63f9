//! Portal sign-in over HTTP: cookies, CSRF, throttling, sign-out, roles.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, aicloud_with_stdin, csrf_in};

fn browser() -> reqwest::Client {
    crate::helpers::cookie_client()
}

async fn login(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    let form = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    client
        .post(app.url("/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf", &csrf_in(&form)),
            ("next", next),
        ])
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn signing_in_sets_a_hardened_session_cookie_and_follows_only_local_next() {
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists
    let client = browser();

    let res = login(
        &app,
        &client,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        "//evil.example/steal",
    )
    .await;

    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/", "no open redirect");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("aicloud_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert_eq!(
        client
            .get(app.url("/products"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
}

#[tokio::test]
async fn a_login_without_its_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists

    let res = browser()
        .post(app.url("/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("csrf", "guess"),
        ])
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn wrong_passwords_get_401_then_429_once_throttled() {
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists
    let client = browser();

    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            login(&app, &client, ADMIN_EMAIL, "not the password", "/")
                .await
                .status()
                .as_u16(),
        );
    }
    let right_but_throttled = login(&app, &client, ADMIN_EMAIL, ADMIN_PASSWORD, "/").await;

    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    assert_eq!(right_but_throttled.status(), 429);
    let html = right_but_throttled.text().await.expect("html");
    assert!(html.contains("too many failed sign-ins"), "{html}");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let browser = app.browser().await;
    let html = app.page("/").await.text().await.expect("html");

    let out = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf_in(&html))])
        .send()
        .await
        .expect("sent");
    let after = app.page("/products").await;

    assert_eq!(out.status(), 303);
    assert_eq!(after.status(), 303, "back to sign-in");
}

#[tokio::test]
async fn a_user_without_a_platform_role_sees_only_the_overview_and_access() {
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists
    let created = aicloud_with_stdin(
        &app.db,
        &["user", "create", "dev@example.test", "--name", "Dev"],
        "developer passphrase\n",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let dev = app
        .sign_in("dev@example.test", "developer passphrase")
        .await;

    let overview = dev.get(app.url("/")).send().await.expect("sent");
    let products = dev.get(app.url("/products")).send().await.expect("sent");

    assert_eq!(overview.status(), 200);
    let html = overview.text().await.expect("html");
    assert!(
        !html.contains(r#"href="/products""#),
        "no link to an area they cannot use"
    );
    assert!(
        html.contains(r#"href="/access""#),
        "everyone manages their access"
    );
    assert_eq!(products.status(), 403);
}
