//! Portal sign-in over HTTP: cookies, CSRF, throttling, sign-out, roles.

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, aicloud_with_stdin, csrf_in};

fn browser() -> reqwest::Client {
    crate::helpers::cookie_client()
}

/// A browser whose connections come from `ip`, a loopback address of its own, so the
/// server sees it as another client.
fn browser_at(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(Some(ip.parse().expect("an address")))
        .build()
        .expect("client")
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
    assert!(html.contains("too many failed attempts"), "{html}");
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

#[tokio::test]
async fn a_guesser_is_stopped_at_their_address_while_the_owner_signs_in_from_another() {
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists
    let attacker = browser_at("127.0.0.2");
    for _ in 0..5 {
        let res = login(&app, &attacker, ADMIN_EMAIL, "a wrong guess", "/").await;
        assert_eq!(res.status(), 401);
    }

    let guessed_right = login(&app, &attacker, ADMIN_EMAIL, ADMIN_PASSWORD, "/").await;
    let owner = login(
        &app,
        &browser_at("127.0.0.3"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        "/",
    )
    .await;

    assert_eq!(
        guessed_right.status(),
        429,
        "the guessing address is throttled"
    );
    assert_eq!(owner.status(), 303, "the owner is not locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_get_no_more_checks_than_the_limit() {
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists
    let client = browser();
    let form = client.get(app.url("/login")).send().await.expect("page");
    let csrf = csrf_in(&form.text().await.expect("html"));

    let guesses = (0..40).map(|_| {
        client
            .post(app.url("/login"))
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", "a wrong guess"),
                ("csrf", &csrf),
            ])
            .send()
    });
    let answers = futures_util::future::join_all(guesses).await;

    let checked = answers
        .iter()
        .filter(|res| res.as_ref().expect("sent").status() == 401)
        .count();
    assert_eq!(checked, 5, "only 5 of 40 parallel guesses were checked");
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_as_a_wrong_password() {
    // That both cost the same argon2 check is measured by `make bench` (sign-in section).
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists
    for (attempt, email) in [ADMIN_EMAIL, "nobody@example.test"].iter().enumerate() {
        // A fresh address each time, so the throttle never answers instead.
        let client = browser_at(&format!("127.0.1.{}", attempt + 1));

        let res = login(&app, &client, email, "a wrong guess", "/").await;

        assert_eq!(res.status(), 401, "{email}");
        let html = res.text().await.expect("html");
        assert!(
            html.contains("the email or password is wrong"),
            "{email}: {html}"
        );
    }
}

#[tokio::test]
async fn next_is_only_ever_a_path_on_this_site() {
    let app = TestApp::spawn().await;
    app.browser().await; // the administrator exists

    for next in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/%09/x",
    ] {
        let res = login(&app, &browser(), ADMIN_EMAIL, ADMIN_PASSWORD, next).await;

        assert_eq!(res.status(), 303, "next {next:?}");
        let kept = if next == "/%09/x" { next } else { "/" };
        assert_eq!(res.headers()["location"], kept, "next {next:?}");
    }
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/x\r\nSet-Cookie: a=b",
    ] {
        let res = login(&app, &browser(), ADMIN_EMAIL, ADMIN_PASSWORD, next).await;

        assert_eq!(res.status(), 422, "next {next:?} holds a control character");
    }
    let res = login(&app, &browser(), ADMIN_EMAIL, ADMIN_PASSWORD, "/audit?a=1").await;
    assert_eq!(
        res.headers()["location"],
        "/audit?a=1",
        "a local path is kept"
    );
}
