//! Tenant isolation, escalation rules, memberships and invitations over the IAM HTTP API.

use std::collections::BTreeMap;

use aicloud::app::Platform;
use aicloud::platform::iam::{Caller, KeyHolder, NewKey, Target, User};
use serde_json::{Value, json};

use crate::helpers::{TestApp, aicloud, csrf_in, packet, platform_for};

const PASSWORD: &str = "a long test passphrase";

/// Two tenants: `org-a` owned by alice (with carol as admin and dave as a member who
/// develops in its default project), `org-b` owned by bob; each holds a user key.
struct Tenants {
    app: TestApp,
    platform: std::sync::Arc<Platform>,
    alice: User,
    alice_key: String,
    bob_key: String,
    carol_key: String,
    dave_key: String,
}

async fn user(platform: &Platform, email: &str) -> User {
    let actor = aicloud::platform::audit::Actor::system("test");
    platform
        .people
        .create_user(email, email, PASSWORD, actor)
        .await
        .expect("user")
}

/// A key of `user` in `org`'s default project, with every scope they hold there but `except`.
async fn user_key(
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
const OWNER_SCOPES: [&str; 8] = [
    "platform.org.manage",
    "platform.iam.read",
    "platform.iam.write",
    "platform.keys.manage",
    "platform.billing.read",
    "platform.policy.read",
    "platform.audit.read",
    "platform.decisions.check",
];
/// Every scope of `platform.org_admin`.
const ADMIN_SCOPES: [&str; 7] = [
    "platform.iam.read",
    "platform.iam.write",
    "platform.keys.manage",
    "platform.billing.read",
    "platform.policy.read",
    "platform.audit.read",
    "platform.decisions.check",
];

async fn api(
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

async fn mint(app: &TestApp, key: &str, scopes: Value) -> reqwest::Response {
    let keys = "/api/v1/iam/orgs/org-a/projects/default/keys";
    let body = json!({ "name": "minted", "scopes": scopes });
    api(app, key, "POST", keys, Some(body)).await
}

async fn member(app: &TestApp, key: &str, email: &str, role: &str) -> reqwest::Response {
    let path = format!("/api/v1/iam/orgs/org-a/members/{email}");
    api(app, key, "PUT", &path, Some(json!({ "role": role }))).await
}

async fn tenants() -> Tenants {
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
    for (email, role) in [("carol@a.example", "admin"), ("dave@a.example", "member")] {
        let path = format!("/api/v1/iam/orgs/org-a/members/{email}");
        let res = api(
            &app,
            &alice_key,
            "PUT",
            &path,
            Some(json!({ "role": role })),
        )
        .await;
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

/// A request body each writing route accepts, so only authorization can refuse it.
fn body_for(method: &str, path: &str, org_b: &BTreeMap<&str, String>) -> Option<Value> {
    let body = match (method, path) {
        ("GET" | "DELETE", _) => return None,
        ("POST", "/api/v1/iam/orgs/{org}/suspend") => json!({}),
        ("POST", "/api/v1/iam/orgs/{org}/departments") => {
            json!({ "slug": "sneaky", "name": "Sneaky" })
        }
        ("POST", "/api/v1/iam/orgs/{org}/projects") => {
            json!({ "slug": "sneaky", "name": "Sneaky" })
        }
        ("PUT", "/api/v1/iam/orgs/{org}/members/{email}") => json!({ "role": "viewer" }),
        ("PUT", "/api/v1/iam/orgs/{org}/projects/{project}/members/{email}") => {
            json!({ "role": "viewer" })
        }
        ("POST", "/api/v1/iam/orgs/{org}/role-bindings") => {
            json!({ "email": org_b["email"], "role": "token_factory.consumer" })
        }
        ("POST", "/api/v1/iam/orgs/{org}/invitations") => {
            json!({ "email": "x@a.example", "role": "viewer" })
        }
        ("POST", "/api/v1/iam/orgs/{org}/projects/{project}/service-accounts") => {
            json!({ "name": "sneaky", "owner": "x", "purpose": "y" })
        }
        ("POST", "/api/v1/iam/orgs/{org}/projects/{project}/keys") => {
            json!({ "name": "sneaky", "scopes": ["platform.iam.read"] })
        }
        ("POST", "/api/v1/iam/orgs/{org}/projects/{project}/keys/{prefix}/revoke") => json!({}),
        ("POST", "/api/v1/iam/orgs/{org}/projects/{project}/keys/{prefix}/rotate") => json!({}),
        _ => panic!("no isolation case for {method} {path}: add one to body_for"),
    };
    Some(body)
}

/// Every IAM route in the OpenAPI document, as (method, path template).
async fn iam_routes(app: &TestApp) -> Vec<(String, String)> {
    let doc = app.get_json("/api/openapi.json").await;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/api/v1/iam/") {
            continue;
        }
        for method in item.as_object().expect("operations").keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// Routes that name no organization, each with its own test below.
const UNSCOPED: [&str; 6] = [
    "/api/v1/iam/me",
    "/api/v1/iam/decisions",
    "/api/v1/iam/orgs",
    "/api/v1/iam/invitations/accept",
    "/api/v1/iam/users",
    "/api/v1/iam/users/{email}/password",
];

#[tokio::test]
async fn every_iam_route_answers_404_for_another_tenants_resources() {
    let t = tenants().await;
    let app = &t.app;
    // org-b's resources: its owner's email, a key, a role binding.
    let bob_prefix = t.bob_key.split('_').nth(1).expect("prefix").to_owned();
    let console = Caller::Console("test".into());
    let org = t
        .platform
        .access
        .authorize(&console, "platform.iam.read", Target::org("org-b"))
        .await
        .expect("org-b");
    let binding = t
        .platform
        .members
        .grant_role(
            &console,
            org.org().expect("org"),
            None,
            "bob@b.example",
            "token_factory.consumer",
        )
        .await
        .expect("bound");
    let org_b = BTreeMap::from([
        ("org", "org-b".to_owned()),
        ("project", "default".to_owned()),
        ("email", "bob@b.example".to_owned()),
        ("prefix", bob_prefix),
        ("id", binding.id.to_string()),
    ]);

    let routes = iam_routes(app).await;
    assert!(routes.len() >= 25, "found only {routes:?}");
    let mut checked = 0;
    for (method, template) in &routes {
        if UNSCOPED.contains(&template.as_str()) {
            continue;
        }
        assert!(
            template.contains("{org}"),
            "{method} {template} names no organization: give it a case"
        );
        let mut path = template.clone();
        for (name, value) in &org_b {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        assert!(!path.contains('{'), "unfilled parameter in {path}");
        let body = body_for(method, template, &org_b);
        let res = api(app, &t.alice_key, method, &path, body).await;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(status, 404, "{method} {path} as org-a's owner: {text}");
        // The detail reads as if org-b did not exist (the instance echoes the request).
        let problem: Value = serde_json::from_str(&text).expect("problem");
        assert_eq!(
            problem["detail"], "no organization `org-b`",
            "{method} {path}"
        );
        checked += 1;
    }
    assert!(checked >= 20, "checked {checked} routes");

    // Nothing of org-b changed: its key works, its members and bindings are as they were.
    let me = api(app, &t.bob_key, "GET", "/api/v1/iam/me", None).await;
    assert_eq!(me.status(), 200);
    let members: Value = api(
        app,
        &t.bob_key,
        "GET",
        "/api/v1/iam/orgs/org-b/members",
        None,
    )
    .await
    .json()
    .await
    .expect("members");
    assert_eq!(members.as_array().expect("list").len(), 1);
    assert_eq!(members[0]["role"], "owner");
    let projects: Value = api(
        app,
        &t.bob_key,
        "GET",
        "/api/v1/iam/orgs/org-b/projects",
        None,
    )
    .await
    .json()
    .await
    .expect("projects");
    assert_eq!(projects.as_array().expect("list").len(), 1, "{projects}");

    // The same routes work for org-a's own resources.
    let own = api(
        app,
        &t.alice_key,
        "GET",
        "/api/v1/iam/orgs/org-a/members",
        None,
    )
    .await;
    assert_eq!(own.status(), 200);
}

#[tokio::test]
async fn unscoped_routes_show_only_the_callers_own_tenant() {
    let t = tenants().await;
    let app = &t.app;
    let orgs: Value = api(app, &t.alice_key, "GET", "/api/v1/iam/orgs", None)
        .await
        .json()
        .await
        .expect("orgs");
    let slugs: Vec<&str> = orgs
        .as_array()
        .expect("list")
        .iter()
        .map(|o| o["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs, ["org-a"]);
    let create = api(
        app,
        &t.alice_key,
        "POST",
        "/api/v1/iam/orgs",
        Some(json!({ "slug": "mine", "name": "Mine" })),
    )
    .await;
    assert_eq!(
        create.status(),
        403,
        "only the platform creates organizations"
    );
    let me: Value = api(app, &t.alice_key, "GET", "/api/v1/iam/me", None)
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["kind"], "user");
    assert_eq!(me["id"], t.alice.id.to_string());
    // Audit: alice reads org-a's events, never org-b's.
    let org_b = api(app, &t.bob_key, "GET", "/api/v1/iam/orgs/org-b", None)
        .await
        .json::<Value>()
        .await
        .expect("org");
    let theirs = api(
        app,
        &t.alice_key,
        "GET",
        &format!(
            "/api/v1/audit/events?organization_id={}",
            org_b["id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    assert_eq!(theirs.status(), 404);
    let mine: Value = api(app, &t.alice_key, "GET", "/api/v1/audit/events", None)
        .await
        .json()
        .await
        .expect("page");
    let events = mine["events"].as_array().expect("events");
    assert!(!events.is_empty());
    let org_a = api(app, &t.alice_key, "GET", "/api/v1/iam/orgs/org-a", None)
        .await
        .json::<Value>()
        .await
        .expect("org");
    assert!(
        events.iter().all(|e| e["organization_id"] == org_a["id"]),
        "{mine}"
    );
    // People are the platform's: a tenant's owner neither lists nor resets them.
    let users = api(app, &t.alice_key, "GET", "/api/v1/iam/users", None).await;
    assert_eq!(users.status(), 403);
    let new_user = json!({ "email": "x@a.example", "display_name": "X", "password": PASSWORD });
    let create = api(
        app,
        &t.alice_key,
        "POST",
        "/api/v1/iam/users",
        Some(new_user),
    )
    .await;
    assert_eq!(create.status(), 403);
    let reset = json!({ "password": "taken over passphrase" });
    let path = "/api/v1/iam/users/bob@b.example/password";
    assert_eq!(
        api(app, &t.alice_key, "PUT", path, Some(reset))
            .await
            .status(),
        403
    );
    app.sign_in("bob@b.example", PASSWORD).await;
    let verify = api(app, &t.alice_key, "GET", "/api/v1/audit/verify", None).await;
    assert_eq!(verify.status(), 403, "verification is platform-wide");
}

#[tokio::test]
async fn nobody_mints_scopes_they_lack_or_makes_owners_without_being_one() {
    let t = tenants().await;
    let app = &t.app;
    // dave develops in the project: keys with what he holds, nothing more.
    let res = mint(app, &t.dave_key, json!(["platform.iam.write"])).await;
    assert_eq!(res.status(), 403);
    let text = res.text().await.expect("text");
    assert!(text.contains("platform.iam.write"), "{text}");
    assert_eq!(
        mint(app, &t.dave_key, json!(["token_factory.inference"]))
            .await
            .status(),
        403
    );
    assert_eq!(
        mint(app, &t.dave_key, json!(["platform.iam.read"]))
            .await
            .status(),
        201
    );
    // A key without the key-management scope cannot create keys at all.
    let reader = mint(app, &t.alice_key, json!(["platform.iam.read"]))
        .await
        .json::<Value>()
        .await
        .expect("key");
    let reader = reader["secret"].as_str().expect("secret").to_owned();
    app.wait_for_key(&reader).await;
    let res = mint(app, &reader, json!(["platform.iam.read"])).await;
    assert_eq!(res.status(), 403);

    // dave cannot grant anything; carol (admin) grants up to admin, never owner.
    let cases = [
        (&t.dave_key, "dave@a.example", "owner", 403),
        (&t.carol_key, "dave@a.example", "owner", 403),
        (&t.carol_key, "carol@a.example", "owner", 403),
        (&t.carol_key, "dave@a.example", "viewer", 200),
    ];
    for (key, email, role, status) in cases {
        let res = member(app, key, email, role).await;
        assert_eq!(res.status(), status, "{email} as {role}");
    }
    // Only the organization's owner hands out a product role carrying scopes carol lacks.
    let binding = json!({ "email": "dave@a.example", "role": "token_factory.developer", "project": "default" });
    let res = api(
        app,
        &t.carol_key,
        "POST",
        "/api/v1/iam/orgs/org-a/role-bindings",
        Some(binding.clone()),
    )
    .await;
    assert_eq!(res.status(), 403);
    let (alice, csrf) = session(app, "alice@a.example").await;
    let res = alice
        .post(app.url("/api/v1/iam/orgs/org-a/role-bindings"))
        .header("x-csrf-token", csrf)
        .json(&binding)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);

    let members: Value = api(
        app,
        &t.alice_key,
        "GET",
        "/api/v1/iam/orgs/org-a/members",
        None,
    )
    .await
    .json()
    .await
    .expect("members");
    let roles: BTreeMap<String, String> = members
        .as_array()
        .expect("list")
        .iter()
        .map(|m| {
            (
                m["email"].as_str().expect("email").to_owned(),
                m["role"].as_str().expect("role").to_owned(),
            )
        })
        .collect();
    assert_eq!(roles["carol@a.example"], "admin");
    assert_eq!(roles["dave@a.example"], "viewer");
    assert_eq!(roles["alice@a.example"], "owner");
}

#[tokio::test]
async fn an_organization_keeps_its_last_owner_and_only_owners_make_owners() {
    let t = tenants().await;
    let app = &t.app;
    let me = "/api/v1/iam/orgs/org-a/members/alice@a.example";
    let carol = "/api/v1/iam/orgs/org-a/members/carol@a.example";
    // A key carries its scopes, not its user's ownership: making owners needs the person.
    let by_key = api(
        app,
        &t.alice_key,
        "PUT",
        carol,
        Some(json!({ "role": "owner" })),
    )
    .await;
    assert_eq!(by_key.status(), 403);
    let (alice, csrf) = session(app, "alice@a.example").await;
    let send = |method: reqwest::Method, path: &str, body: Value| {
        alice
            .request(method, app.url(path))
            .header("x-csrf-token", &csrf)
            .json(&body)
            .send()
    };
    let res = send(reqwest::Method::PUT, me, json!({ "role": "admin" }))
        .await
        .expect("sent");
    assert_eq!(res.status(), 409);
    assert!(
        res.text()
            .await
            .expect("text")
            .contains("at least one owner")
    );
    let res = send(reqwest::Method::DELETE, me, json!(null))
        .await
        .expect("sent");
    assert_eq!(res.status(), 409);
    // With a second owner, the first may go; their key stops working with the membership.
    let res = send(reqwest::Method::PUT, carol, json!({ "role": "owner" }))
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let res = send(reqwest::Method::DELETE, me, json!(null))
        .await
        .expect("sent");
    assert_eq!(res.status(), 204);
    let mut denied = false;
    for _ in 0..50 {
        if api(app, &t.alice_key, "GET", "/api/v1/iam/me", None)
            .await
            .status()
            == 401
        {
            denied = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(denied, "a former member's key must stop working");
}

/// A browser signed in as `email`, and its CSRF token for API writes.
async fn session(app: &TestApp, email: &str) -> (reqwest::Client, String) {
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

#[tokio::test]
async fn an_invitation_link_works_once_for_the_invited_person_before_it_expires() {
    let t = tenants().await;
    let app = &t.app;
    let invite = |email: &str| {
        api(
            app,
            &t.alice_key,
            "POST",
            "/api/v1/iam/orgs/org-a/invitations",
            Some(json!({ "email": email, "role": "member" })),
        )
    };
    let res = invite("erin@e.example").await;
    assert_eq!(res.status(), 201);
    let token = res.json::<Value>().await.expect("invitation")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    user(&t.platform, "erin@e.example").await;
    user(&t.platform, "frank@f.example").await;

    let accept = |browser: &reqwest::Client, csrf: &str, token: &str| {
        browser
            .post(app.url("/api/v1/iam/invitations/accept"))
            .header("x-csrf-token", csrf)
            .json(&json!({ "token": token }))
            .send()
    };
    let (frank, frank_csrf) = session(app, "frank@f.example").await;
    assert_eq!(
        accept(&frank, &frank_csrf, &token)
            .await
            .expect("sent")
            .status(),
        403,
        "not frank's"
    );
    let (erin, erin_csrf) = session(app, "erin@e.example").await;
    let no_csrf = erin
        .post(app.url("/api/v1/iam/invitations/accept"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        no_csrf.status(),
        403,
        "a session writes only with its CSRF token"
    );
    let ok = accept(&erin, &erin_csrf, &token).await.expect("sent");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.expect("member")["role"], "member");
    assert_eq!(
        accept(&erin, &erin_csrf, &token)
            .await
            .expect("sent")
            .status(),
        404,
        "single use"
    );
    let me: Value = erin
        .get(app.url("/api/v1/iam/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["organizations"][0]["slug"], "org-a");

    // An expired link is as good as none.
    let res = invite("frank@f.example").await;
    let late = res.json::<Value>().await.expect("invitation")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut conn = app.db.connect();
    use diesel::RunQueryDsl;
    diesel::sql_query("UPDATE iam.invitations SET expires_at = now() - interval '1 second' WHERE email = 'frank@f.example'")
        .execute(&mut conn)
        .expect("expired");
    assert_eq!(
        accept(&frank, &frank_csrf, &late)
            .await
            .expect("sent")
            .status(),
        404
    );
    // Owners are invited only by owners.
    let res = api(
        app,
        &t.carol_key,
        "POST",
        "/api/v1/iam/orgs/org-a/invitations",
        Some(json!({ "email": "g@g.example", "role": "owner" })),
    )
    .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn members_and_service_accounts_from_the_command_line() {
    let t = tenants().await;
    let db = &t.app.db;
    let run = |args: &[&str]| {
        let out = aicloud(db, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "member",
        "add",
        "org-b",
        "dave@a.example",
        "--role",
        "viewer",
    ]);
    run(&[
        "member",
        "add",
        "org-b",
        "dave@a.example",
        "--role",
        "developer",
        "--project",
        "default",
    ]);
    let listed: Value = serde_json::from_str(&run(&[
        "member",
        "list",
        "org-b",
        "--project",
        "default",
        "--json",
    ]))
    .expect("json");
    assert_eq!(listed[0]["email"], "dave@a.example");
    assert_eq!(listed[0]["role"], "developer");
    let refused = aicloud(
        db,
        &["member", "add", "org-b", "dave@a.example", "--role", "boss"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("owner, admin, member, viewer"));
    let last = aicloud(db, &["member", "remove", "org-b", "bob@b.example"]);
    assert!(!last.status.success(), "the last owner stays");
    run(&["member", "remove", "org-b", "dave@a.example"]);
    let listed: Value =
        serde_json::from_str(&run(&["member", "list", "org-b", "--json"])).expect("json");
    assert_eq!(listed.as_array().expect("list").len(), 1);

    run(&[
        "sa",
        "create",
        "org-b",
        "default",
        "batch",
        "--owner",
        "bob",
        "--purpose",
        "nightly jobs",
    ]);
    let accounts: Value =
        serde_json::from_str(&run(&["sa", "list", "org-b", "default", "--json"])).expect("json");
    assert_eq!(accounts[0]["name"], "batch");
    assert_eq!(accounts[0]["purpose"], "nightly jobs");
}

#[tokio::test]
async fn a_users_keys_shrink_when_the_user_loses_a_role() {
    let t = tenants().await;
    let app = &t.app;
    assert_eq!(
        mint(app, &t.dave_key, json!(["platform.iam.read"]))
            .await
            .status(),
        201
    );
    // dave leaves the project: his organization membership still lets him read, but his
    // key no longer manages keys (it had that scope through the project role only).
    let path = "/api/v1/iam/orgs/org-a/projects/default/members/dave@a.example";
    assert_eq!(
        api(app, &t.alice_key, "DELETE", path, None).await.status(),
        204
    );
    let mut status = 0;
    for _ in 0..50 {
        status = mint(app, &t.dave_key, json!(["platform.iam.read"]))
            .await
            .status()
            .as_u16();
        if status == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 403);
    let me: Value = api(app, &t.dave_key, "GET", "/api/v1/iam/me", None)
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["scopes"], json!(["platform.iam.read"]));
}

#[tokio::test]
async fn departments_group_projects_inside_one_organization() {
    let t = tenants().await;
    let app = &t.app;
    let departments = "/api/v1/iam/orgs/org-a/departments";
    let bad = json!({ "slug": "Research Lab", "name": "Research" });
    assert_eq!(
        api(app, &t.alice_key, "POST", departments, Some(bad))
            .await
            .status(),
        422
    );
    let research = json!({ "slug": "research", "name": "Research" });
    let res = api(
        app,
        &t.alice_key,
        "POST",
        departments,
        Some(research.clone()),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        api(app, &t.alice_key, "POST", departments, Some(research))
            .await
            .status(),
        409
    );
    let project = json!({ "slug": "lab", "name": "Lab", "department": "research" });
    let res = api(
        app,
        &t.alice_key,
        "POST",
        "/api/v1/iam/orgs/org-a/projects",
        Some(project),
    )
    .await;
    assert_eq!(res.status(), 201);
    let lab: Value = res.json().await.expect("project");
    let listed: Value = api(app, &t.alice_key, "GET", departments, None)
        .await
        .json()
        .await
        .expect("list");
    let slugs: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs, ["default", "research"]);
    assert_eq!(lab["department_id"], listed[1]["id"]);
    // org-b's departments are not org-a's to use.
    let elsewhere = json!({ "slug": "sneaky", "name": "Sneaky", "department": "default" });
    let res = api(
        app,
        &t.alice_key,
        "POST",
        "/api/v1/iam/orgs/org-b/projects",
        Some(elsewhere),
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[derive(diesel::QueryableByName)]
struct Announced {
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    payload: String,
}

#[tokio::test]
async fn access_changes_are_announced_on_the_outbox_without_secrets() {
    use diesel::RunQueryDsl;
    let t = tenants().await;
    let app = &t.app;
    let admin = app.admin_key().await.to_owned();
    let bob_prefix = t.bob_key.split('_').nth(1).expect("prefix");
    let revoke = format!("/api/v1/iam/orgs/org-b/projects/default/keys/{bob_prefix}/revoke");
    assert_eq!(api(app, &admin, "POST", &revoke, None).await.status(), 200);
    let suspend = api(app, &admin, "POST", "/api/v1/iam/orgs/org-b/suspend", None).await;
    assert_eq!(suspend.status(), 200);

    let mut conn = app.db.connect();
    let announced: Vec<Announced> = diesel::sql_query(
        "SELECT event_type, payload::text AS payload FROM events.outbox \
         WHERE event_type LIKE 'platform.iam.%' ORDER BY seq",
    )
    .load(&mut conn)
    .expect("outbox");
    let kinds: Vec<&str> = announced.iter().map(|a| a.event_type.as_str()).collect();
    for expected in [
        "platform.iam.key_issued",
        "platform.iam.membership_changed",
        "platform.iam.key_revoked",
        "platform.iam.organization_suspended",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let revoked = announced
        .iter()
        .find(|a| a.event_type == "platform.iam.key_revoked")
        .expect("revoked");
    assert!(revoked.payload.contains(bob_prefix));
    for a in &announced {
        for key in [&t.alice_key, &t.bob_key, &t.carol_key, &t.dave_key, &admin] {
            let secret = key.rsplit('_').next().expect("secret part");
            assert!(
                !a.payload.contains(secret),
                "{} carries a key secret",
                a.event_type
            );
        }
    }
}
