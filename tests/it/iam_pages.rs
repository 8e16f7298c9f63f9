//! The access pages over HTTP: what members see and may do, and the account page.

use serde_json::json;

use crate::helpers::{TestApp, csrf_in, platform_for};

const PASSWORD: &str = "a long pages passphrase";

/// `org-a` owned by olive, with mia as a viewer; `org-b` owned by someone else.
async fn setup() -> TestApp {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await.to_owned();
    let platform = platform_for(&app.db, &[]).await;
    for email in ["olive@a.example", "mia@a.example", "zed@b.example"] {
        let actor = aicloud::platform::iam::Caller::Console("test".into());
        platform
            .people
            .create_user(&actor, email, email, PASSWORD)
            .await
            .expect("user");
    }
    for (slug, owner) in [("org-a", "olive@a.example"), ("org-b", "zed@b.example")] {
        let res = app
            .client
            .post(app.url("/api/v1/iam/orgs"))
            .bearer_auth(&admin)
            .json(&json!({ "slug": slug, "name": format!("Org {slug}"), "owner": owner }))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 201);
    }
    // mia is already a member (the platform adds directly; olive would have to invite).
    let res = app
        .client
        .put(app.url("/api/v1/iam/orgs/org-a/members/mia@a.example"))
        .bearer_auth(&admin)
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    app
}

async fn page(browser: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = browser.get(app.url(path)).send().await.expect("sent");
    (res.status().as_u16(), res.text().await.expect("html"))
}

#[tokio::test]
async fn owners_manage_members_from_the_organization_page_and_members_only_look() {
    let app = setup().await;
    let olive = app.sign_in("olive@a.example", PASSWORD).await;
    let (status, html) = page(&olive, &app, "/access/org-a").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="your-role">owner"#), "{html}");
    let changed = olive
        .post(app.url("/access/org-a/members"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("email", "mia@a.example"),
            ("role", "member"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 303, "an owner changes a member's role");
    let invited = olive
        .post(app.url("/access/org-a/invitations"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("email", "new@a.example"),
            ("role", "viewer"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(invited.status(), 200);
    let shown = invited.text().await.expect("html");
    assert!(shown.contains(r#"id="invitation-link""#) && shown.contains("/invitations/"));

    let mia = app.sign_in("mia@a.example", PASSWORD).await;
    let (status, html) = page(&mia, &app, "/access/org-a").await;
    assert_eq!(status, 200);
    assert!(html.contains("olive@a.example"), "members are listed");
    assert!(
        !html.contains("/access/org-a/members\""),
        "no member form for a plain member"
    );
    assert!(
        !html.contains("new@a.example"),
        "invitations are for those who manage members"
    );
    let forged = mia
        .post(app.url("/access/org-a/members"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("email", "mia@a.example"),
            ("role", "owner"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 403);
    let (status, _) = page(&mia, &app, "/access/org-b").await;
    assert_eq!(
        status, 404,
        "another tenant's organization does not exist for mia"
    );
    let (status, _) = page(&mia, &app, "/access/org-b/default").await;
    assert_eq!(status, 404);
    let (_, access) = page(&mia, &app, "/access").await;
    assert!(access.contains("/access/org-a") && !access.contains("/access/org-b"));
    assert!(
        access.contains("platform.org_owner"),
        "the roles table lists registry roles"
    );
}

#[tokio::test]
async fn changing_your_password_keeps_this_session_and_ends_the_others() {
    let app = setup().await;
    let here = app.sign_in("mia@a.example", PASSWORD).await;
    let elsewhere = app.sign_in("mia@a.example", PASSWORD).await;
    let (_, html) = page(&here, &app, "/account").await;
    assert!(html.contains(r#"id="email">mia@a.example"#));
    let change = |current: &'static str, new: &'static str| {
        here.post(app.url("/account/password"))
            .form(&[
                ("csrf", csrf_in(&html)),
                ("current", current.into()),
                ("new", new.into()),
                ("repeat", new.into()),
            ])
            .send()
    };
    let wrong = change("not the password", "another long passphrase")
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 403);
    let changed = change(PASSWORD, "another long passphrase")
        .await
        .expect("sent");
    assert_eq!(changed.status(), 303);
    let (status, html) = page(&here, &app, "/account?changed=1").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="password-changed""#));
    let other = elsewhere
        .get(app.url("/account"))
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status(), 303, "the other session was signed out");
    app.sign_in("mia@a.example", "another long passphrase")
        .await;
}

#[tokio::test]
async fn platform_areas_follow_the_scopes_of_platform_roles() {
    let app = setup().await;
    let run = |args: &[&str]| crate::helpers::aicloud(&app.db, args);
    let refused = run(&["user", "grant", "mia@a.example", "platform.org_owner"]);
    assert!(
        !refused.status.success(),
        "tenant roles come with memberships"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an active platform role"));
    let granted = run(&[
        "user",
        "grant",
        "mia@a.example",
        "platform.security_auditor",
    ]);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );

    let auditor = app.sign_in("mia@a.example", PASSWORD).await;
    let (status, html) = page(&auditor, &app, "/audit").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"href="/audit""#) && html.contains(r#"href="/events/dead-letters""#));
    assert!(
        !html.contains(">Evidence<"),
        "areas still to come are for administrators"
    );
    let replay = auditor
        .post(app.url(&format!(
            "/events/dead-letters/{}/replay",
            uuid::Uuid::now_v7()
        )))
        .form(&[("csrf", csrf_in(&html))])
        .send()
        .await
        .expect("sent");
    assert_eq!(replay.status(), 403, "auditors read; they do not replay");

    let plain = app.sign_in("olive@a.example", PASSWORD).await;
    let (status, _) = page(&plain, &app, "/audit").await;
    assert_eq!(status, 403);
    let (_, home) = page(&plain, &app, "/").await;
    assert!(!home.contains(r#"href="/audit""#) && home.contains(r#"href="/access""#));

    let revoked = run(&[
        "user",
        "revoke",
        "mia@a.example",
        "platform.security_auditor",
    ]);
    assert!(revoked.status.success());
    let (status, _) = page(&auditor, &app, "/audit").await;
    assert_eq!(status, 403, "the role is gone at the next page");
}

#[tokio::test]
async fn the_platform_administrator_manages_people_over_the_api() {
    let app = setup().await;
    let admin = app.admin_key().await.to_owned();
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let short = json!({ "email": "nia@c.example", "display_name": "Nia", "password": "short" });
    let res = send(reqwest::Method::POST, "/api/v1/iam/users", short)
        .await
        .expect("sent");
    assert_eq!(res.status(), 422);
    let problem: serde_json::Value = res.json().await.expect("problem");
    assert_eq!(problem["field"], "password");
    let nia = json!({ "email": "nia@c.example", "display_name": "Nia", "password": PASSWORD });
    let res = send(reqwest::Method::POST, "/api/v1/iam/users", nia)
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    let users: serde_json::Value = app.get_items("/api/v1/iam/users").await;
    assert!(
        users
            .as_array()
            .expect("list")
            .iter()
            .any(|u| u["email"] == "nia@c.example")
    );
    assert!(
        !users.to_string().contains("argon2"),
        "no password hash leaves the server"
    );
    let reset = json!({ "password": "a brand new passphrase" });
    let res = send(
        reqwest::Method::PUT,
        "/api/v1/iam/users/nia@c.example/password",
        reset,
    )
    .await
    .expect("sent");
    assert_eq!(res.status(), 204);
    app.sign_in("nia@c.example", "a brand new passphrase").await;
}

#[tokio::test]
async fn someone_without_an_account_joins_from_the_invitation_link() {
    let app = setup().await;
    let olive = app.sign_in("olive@a.example", PASSWORD).await;
    let (_, html) = page(&olive, &app, "/access/org-a").await;
    let invited = olive
        .post(app.url("/access/org-a/invitations"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("email", "newcomer@a.example"),
            ("role", "viewer"),
        ])
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    let start = invited.find("/invitations/").expect("link");
    let link = &invited[start..start + invited[start..].find('"').expect("end")];

    let visitor = crate::helpers::cookie_client();
    let (status, form) = page(&visitor, &app, link).await;
    assert_eq!(status, 200, "the link opens without an account");
    assert!(form.contains(r#"id="join""#) && !form.contains(r#"href="/audit""#));
    let join = |csrf: String| {
        visitor
            .post(app.url(&format!("{link}/join")))
            .form(&[
                ("csrf", csrf),
                ("display_name", "Newcomer".into()),
                ("password", PASSWORD.into()),
                ("repeat", PASSWORD.into()),
            ])
            .send()
    };
    assert_eq!(join("forged".into()).await.expect("sent").status(), 403);
    let joined = join(csrf_in(&form)).await.expect("sent");
    assert_eq!(joined.status(), 303);
    let next = format!("/login?next={link}");
    assert_eq!(
        joined.headers()["location"],
        next.as_str(),
        "sign in, then accept"
    );

    // Signed in, the newcomer accepts: joining takes whoever can sign in to the account.
    let newcomer = app.sign_in("newcomer@a.example", PASSWORD).await;
    let (status, html) = page(&newcomer, &app, link).await;
    assert_eq!(status, 200);
    let accepted = newcomer
        .post(app.url(link))
        .form(&[("csrf", csrf_in(&html))])
        .send()
        .await
        .expect("sent");
    assert_eq!(accepted.status(), 303);
    let (status, _) = page(&visitor, &app, link).await;
    assert_eq!(status, 404, "the link worked once");
    let (status, html) = page(&newcomer, &app, "/access/org-a").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="your-role">viewer"#), "{html}");
    assert!(
        html.contains(">unverified</span>"),
        "its address was never proven"
    );
}
