//! Tenant isolation: every IAM route, enumerated from the OpenAPI document, answers 404 for
//! another tenant's resources; unscoped routes show only the caller's own tenant.

use std::collections::BTreeMap;

use aicloud::platform::iam::{Caller, Target};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::iam_tenants::{PASSWORD, api, tenants};

/// A request body each writing route accepts, so only authorization can refuse it.
fn body_for(method: &str, path: &str, org_b: &BTreeMap<&str, String>) -> Option<Value> {
    let body = match (method, path) {
        ("GET" | "DELETE", _) => return None,
        ("POST", "/api/v1/iam/orgs/{org}/suspend" | "/api/v1/iam/orgs/{org}/reactivate") => {
            json!({})
        }
        ("POST", "/api/v1/iam/orgs/{org}/projects/{project}/service-accounts/{name}/disable") => {
            json!({})
        }
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
    let mut routes = every_route(app).await;
    routes.retain(|(_, path)| path.starts_with("/api/v1/iam/"));
    routes
}

/// Routes that name no organization, each with its own test below.
const UNSCOPED: [&str; 8] = [
    "/api/v1/iam/me",
    "/api/v1/iam/decisions",
    "/api/v1/iam/orgs",
    "/api/v1/iam/invitations/accept",
    "/api/v1/iam/users",
    "/api/v1/iam/users/{email}/password",
    "/api/v1/iam/users/{email}/disable",
    "/api/v1/iam/users/{email}/enable",
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
    t.platform
        .keys
        .create_service_account(&console, "org-b", "default", "robot", "bob", "batch jobs")
        .await
        .expect("org-b's service account");
    let org_b = BTreeMap::from([
        ("name", "robot".to_owned()),
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
    .json::<Value>()
    .await
    .expect("members")["items"]
        .clone();
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
    .json::<Value>()
    .await
    .expect("projects")["items"]
        .clone();
    assert_eq!(projects.as_array().expect("list").len(), 1, "{projects}");
    let accounts: Value = api(
        app,
        &t.bob_key,
        "GET",
        "/api/v1/iam/orgs/org-b/projects/default/service-accounts",
        None,
    )
    .await
    .json::<Value>()
    .await
    .expect("service accounts")["items"]
        .clone();
    assert_eq!(accounts[0]["state"], "active", "{accounts}");

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
        .json::<Value>()
        .await
        .expect("orgs")["items"]
        .clone();
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
    for change in ["disable", "enable"] {
        let path = format!("/api/v1/iam/users/bob@b.example/{change}");
        let res = api(app, &t.alice_key, "POST", &path, Some(json!({}))).await;
        assert_eq!(res.status(), 403, "{change} is platform-wide");
    }
    app.sign_in("bob@b.example", PASSWORD).await;
    let verify = api(app, &t.alice_key, "GET", "/api/v1/audit/verify", None).await;
    assert_eq!(verify.status(), 403, "verification is platform-wide");
}

/// Every operation of every module in the OpenAPI document, as (method, path template).
async fn every_route(app: &TestApp) -> Vec<(String, String)> {
    let doc = app.get_json("/api/openapi.json").await;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[tokio::test]
async fn no_route_of_any_module_hands_a_tenant_another_tenants_data() {
    let t = tenants().await;
    let app = &t.app;
    let org_b: Value = api(app, &t.bob_key, "GET", "/api/v1/iam/orgs/org-b", None)
        .await
        .json()
        .await
        .expect("org-b");
    let org_b_id = org_b["id"].as_str().expect("id").to_owned();
    let bob_prefix = t.bob_key.split('_').nth(1).expect("prefix").to_owned();
    let fill = |template: &str| {
        template
            .replace("{org}", "org-b")
            .replace("{project}", "default")
            .replace("{email}", "bob@b.example")
            .replace("{prefix}", &bob_prefix)
            .replace("{id}", &org_b_id)
            .replace("{name}", "default")
            .replace("{slug}", "platform")
            .replace("{family}", "scopes")
    };
    let routes = every_route(app).await;
    let modules: std::collections::BTreeSet<&str> = routes
        .iter()
        .filter_map(|(_, p)| p.strip_prefix("/api/v1/")?.split('/').next())
        .collect();
    assert!(modules.len() >= 4, "routes of only {modules:?}");

    for (method, template) in &routes {
        let path = fill(template);
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        let res = api(app, &t.alice_key, method, &path, body).await;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();

        if method != "GET" {
            assert!(
                !status.is_success(),
                "{method} {template} let alice change {status}"
            );
        }
        for leak in [org_b_id.as_str(), "bob@b.example", bob_prefix.as_str()] {
            assert!(
                !(status.is_success() && text.contains(leak)),
                "{method} {template} showed alice org-b's `{leak}`"
            );
        }
    }
}
