//! Taking access away without deleting anything: disabling service accounts and users,
//! suspending and reactivating organizations. Each is audited, and keys follow within a
//! second on every server.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, aicloud, csrf_in};
use crate::iam_tenants::{
    PASSWORD, Tenants, api, audited, denied_within_a_second, session, tenants,
};

const ACCOUNTS: &str = "/api/v1/iam/orgs/org-a/projects/default/service-accounts";
const KEYS: &str = "/api/v1/iam/orgs/org-a/projects/default/keys";

/// A sign-in attempt's status (the portal answers 303 on success).
async fn sign_in_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.try_sign_in(email, password).await.1
}

/// Alice creates the service account `robot` in org-a's default project.
async fn create_robot(t: &Tenants) -> Value {
    let robot = json!({ "name": "robot", "owner": "alice@a.example", "purpose": "batch jobs" });
    let created = api(&t.app, &t.alice_key, "POST", ACCOUNTS, Some(robot)).await;
    assert_eq!(created.status(), 201);
    created.json().await.expect("service account")
}

#[tokio::test]
async fn a_disabled_service_accounts_keys_are_denied_and_it_gets_no_new_ones() {
    let t = tenants().await;
    let app = &t.app;
    let robot = create_robot(&t).await;
    assert_eq!(robot["state"], "active");
    let new_key =
        json!({ "name": "robot key", "scopes": ["platform.iam.read"], "service_account": "robot" });
    let issued = api(app, &t.alice_key, "POST", KEYS, Some(new_key.clone())).await;
    assert_eq!(issued.status(), 201);
    let issued: Value = issued.json().await.expect("issued");
    let secret = issued["secret"].as_str().expect("secret").to_owned();
    app.wait_for_key(&secret).await;

    let disable = format!("{ACCOUNTS}/robot/disable");
    let by_developer = api(app, &t.dave_key, "POST", &disable, None).await;
    assert_eq!(
        by_developer.status(),
        403,
        "disabling needs platform.iam.write"
    );
    assert_eq!(
        api(app, &secret, "GET", "/api/v1/iam/me", None)
            .await
            .status(),
        200
    );

    let disabled = api(app, &t.alice_key, "POST", &disable, None).await;
    assert_eq!(disabled.status(), 200);
    let disabled: Value = disabled.json().await.expect("service account");
    assert_eq!(disabled["state"], "disabled");
    assert!(disabled["disabled_at"].is_string(), "{disabled}");
    denied_within_a_second(app, &secret).await;

    let again = api(app, &t.alice_key, "POST", &disable, None).await;
    assert_eq!(again.status(), 409);
    let refused = api(app, &t.alice_key, "POST", KEYS, Some(new_key)).await;
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(
        problem["detail"],
        "service account `robot` is disabled; it gets no new keys"
    );
    let events = audited(app, "platform.service_account.disabled").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target_id"], robot["id"]);
    let on_behalf_of = format!("user:{}", t.alice.id);
    assert_eq!(events[0]["actor"]["on_behalf_of"], on_behalf_of.as_str());

    // The console says the same, and lists it as disabled; its key stays listed.
    let cli = aicloud(&app.db, &["sa", "disable", "org-a", "default", "robot"]);
    assert!(!cli.status.success());
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("already disabled"), "{stderr}");
    let listed = aicloud(&app.db, &["sa", "list", "org-a", "default", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed[0]["name"], "robot");
    assert_eq!(listed[0]["state"], "disabled");
    let keys: Value = api(app, &t.alice_key, "GET", KEYS, None)
        .await
        .json::<Value>()
        .await
        .expect("keys")["items"]
        .clone();
    let prefix = &issued["key"]["prefix"];
    assert!(
        keys.as_array()
            .expect("keys")
            .iter()
            .any(|k| &k["prefix"] == prefix)
    );
}

#[tokio::test]
async fn the_project_page_disables_a_service_account_with_a_button() {
    let t = tenants().await;
    let app = &t.app;
    create_robot(&t).await;
    let (browser, csrf) = session(app, "alice@a.example").await;
    let page = "/access/org-a/default";
    let html = browser.get(app.url(page)).send().await.expect("page");
    let html = html.text().await.expect("html");
    let button = r#"action="/access/org-a/default/service-accounts/robot/disable""#;
    assert!(html.contains(button), "{html}");

    let res = browser
        .post(app.url("/access/org-a/default/service-accounts/robot/disable"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 303);
    let html = browser.get(app.url(page)).send().await.expect("page");
    let html = html.text().await.expect("html");
    assert!(!html.contains(button), "no button once disabled");
    assert!(
        html.contains(r#"<span class="tag">disabled</span>"#),
        "{html}"
    );
    assert!(
        !html.contains(r#"<option value="robot">"#),
        "a disabled account is not offered for new keys"
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in_and_their_sessions_and_keys_end() {
    let t = tenants().await;
    let app = &t.app;
    let (carol, _) = session(app, "carol@a.example").await;
    let out = aicloud(&app.db, &["user", "disable", "carol@a.example"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("carol@a.example is now disabled"), "{said}");

    // Another process disabled her: this server learns of it by NOTIFY.
    denied_within_a_second(app, &t.carol_key).await;
    let access = carol.get(app.url("/access")).send().await.expect("sent");
    assert_eq!(access.status(), 303, "her session has ended");
    assert_eq!(sign_in_status(app, "carol@a.example", PASSWORD).await, 401);
    let events = audited(app, "platform.user.disabled").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let again = aicloud(&app.db, &["user", "disable", "carol@a.example"]);
    assert!(!again.status.success(), "disabling twice is refused");

    let admin = app.admin_key().await.to_owned();
    let enable = "/api/v1/iam/users/carol@a.example/enable";
    let res = api(app, &t.alice_key, "POST", enable, None).await;
    assert_eq!(res.status(), 403, "people are the platform's to enable");
    let res = api(app, &admin, "POST", enable, None).await;
    assert_eq!(res.status(), 200);
    let carol: Value = res.json().await.expect("user");
    assert_eq!(carol["state"], "active");
    assert_eq!(sign_in_status(app, "carol@a.example", PASSWORD).await, 303);
    app.wait_for_key(&t.carol_key).await;
    assert_eq!(audited(app, "platform.user.enabled").await.len(), 1);
}

#[tokio::test]
async fn creating_a_user_is_audited_and_the_last_active_administrator_stays() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let admin = app.admin_key().await.to_owned();
    let new_user =
        json!({ "email": "erin@example.test", "display_name": "Erin", "password": PASSWORD });
    let res = api(&app, &admin, "POST", "/api/v1/iam/users", Some(new_user)).await;
    assert_eq!(res.status(), 201);
    let erin: Value = res.json().await.expect("user");
    let created = audited(&app, "platform.user.created").await;
    assert_eq!(
        created.len(),
        2,
        "bootstrap's administrator and erin: {created:?}"
    );
    assert_eq!(created[0]["target_id"], erin["id"], "newest first");
    assert!(created[0]["actor"]["id"].is_string());

    let out = aicloud(&app.db, &["user", "disable", ADMIN_EMAIL]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("must keep one active administrator"),
        "{stderr}"
    );
    assert_eq!(sign_in_status(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await, 303);

    // With a second administrator the first can go, and then the second must stay.
    let grant = [
        "user",
        "grant",
        "erin@example.test",
        "platform.platform_admin",
    ];
    assert!(aicloud(&app.db, &grant).status.success());
    assert!(
        aicloud(&app.db, &["user", "disable", ADMIN_EMAIL])
            .status
            .success()
    );
    let revoke = [
        "user",
        "revoke",
        "erin@example.test",
        "platform.platform_admin",
    ];
    let out = aicloud(&app.db, &revoke);
    assert!(
        !out.status.success(),
        "erin is the only active administrator"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("must keep one active administrator"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_reactivated_organizations_keys_work_again() {
    let t = tenants().await;
    let app = &t.app;
    let admin = app.admin_key().await.to_owned();
    let suspend = api(app, &admin, "POST", "/api/v1/iam/orgs/org-b/suspend", None).await;
    assert_eq!(suspend.status(), 200);
    denied_within_a_second(app, &t.bob_key).await;

    let reactivate = "/api/v1/iam/orgs/org-b/reactivate";
    let res = api(app, &t.alice_key, "POST", reactivate, None).await;
    assert_eq!(res.status(), 404, "another tenant's organization");
    let res = api(
        app,
        &t.alice_key,
        "POST",
        "/api/v1/iam/orgs/org-a/reactivate",
        None,
    )
    .await;
    assert_eq!(res.status(), 403, "an owner does not lift a suspension");
    let res = api(app, &admin, "POST", reactivate, None).await;
    assert_eq!(res.status(), 200);
    let org: Value = res.json().await.expect("organization");
    assert_eq!(org["state"], "active");
    app.wait_for_key(&t.bob_key).await;
    assert_eq!(
        api(app, &admin, "POST", reactivate, None).await.status(),
        409
    );
    let events = audited(app, "platform.organization.reactivated").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target_id"], org["id"]);
}

#[tokio::test]
async fn the_platform_administrator_suspends_and_reactivates_from_the_organization_page() {
    let t = tenants().await;
    let app = &t.app;
    let browser = app.browser().await;
    let csrf = csrf_in(&app.page("/access/org-b").await.text().await.expect("html"));
    let post = |state: &'static str| {
        let fields = [("csrf", csrf.clone()), ("state", state.to_owned())];
        browser
            .post(app.url("/access/org-b/state"))
            .form(&fields)
            .send()
    };
    assert_eq!(post("suspended").await.expect("sent").status(), 303);
    let html = app.page("/access/org-b").await.text().await.expect("html");
    assert!(
        html.contains(r#"<span id="org-state">suspended</span>"#),
        "{html}"
    );
    assert!(html.contains("Reactivate organization"), "{html}");
    denied_within_a_second(app, &t.bob_key).await;

    let bogus = post("deleted").await.expect("sent");
    assert_eq!(bogus.status(), 422);
    assert_eq!(post("active").await.expect("sent").status(), 303);
    app.wait_for_key(&t.bob_key).await;

    // An owner sees no such button and cannot post the form.
    let (alice, alice_csrf) = session(app, "alice@a.example").await;
    let html = alice
        .get(app.url("/access/org-a"))
        .send()
        .await
        .expect("page");
    assert!(!html.text().await.expect("html").contains("org-state-form"));
    let fields = [("csrf", alice_csrf.as_str()), ("state", "suspended")];
    let res = alice
        .post(app.url("/access/org-a/state"))
        .form(&fields)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 403);
}
