//! Escalation rules: no scope you lack, owners only by owners, the last owner stays, and a
//! user's keys shrink with the user's roles.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::iam_tenants::{api, member, mint, session, tenants};

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
    .json::<serde_json::Value>()
    .await
    .expect("members")["items"]
        .clone();
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
