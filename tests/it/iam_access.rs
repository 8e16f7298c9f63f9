//! Invitations, members and service accounts at the command line, departments, and the
//! outbox announcements of access changes.

use serde_json::{Value, json};

use crate::helpers::aicloud;
use crate::iam_tenants::{api, session, tenants, user, user_key};

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
        .json::<Value>()
        .await
        .expect("list")["items"]
        .clone();
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

#[tokio::test]
async fn a_project_admin_reads_the_audit_trail_of_their_project_only() {
    let t = tenants().await;
    let app = &t.app;
    let path = "/api/v1/iam/orgs/org-a/projects/default/members/dave@a.example";
    let admin = api(
        app,
        &t.alice_key,
        "PUT",
        path,
        Some(json!({ "role": "admin" })),
    )
    .await;
    assert_eq!(admin.status(), 200);
    let dave = t.platform.people.users().await.expect("users");
    let dave = dave
        .into_iter()
        .find(|u| u.email == "dave@a.example")
        .expect("dave");
    let key = user_key((app, &t.platform), &dave, "org-a", &["platform.audit.read"]).await;
    let project: Value = api(
        app,
        &t.alice_key,
        "GET",
        "/api/v1/iam/orgs/org-a/projects/default",
        None,
    )
    .await
    .json()
    .await
    .expect("project");
    let (org, project) = (
        project["organization_id"].as_str().expect("org"),
        project["id"].as_str().expect("id"),
    );

    let whole_org = api(
        app,
        &key,
        "GET",
        &format!("/api/v1/audit/events?organization_id={org}"),
        None,
    )
    .await;
    assert_eq!(
        whole_org.status(),
        403,
        "project admins do not read the organization's trail"
    );
    let path = format!("/api/v1/audit/events?organization_id={org}&project_id={project}");
    let page: Value = api(app, &key, "GET", &path, None)
        .await
        .json()
        .await
        .expect("page");
    let events = page["events"].as_array().expect("events");
    assert!(!events.is_empty(), "{page}");
    assert!(events.iter().all(|e| e["project_id"] == project), "{page}");
    let other = api(
        app,
        &key,
        "GET",
        &format!(
            "/api/v1/audit/events?organization_id={org}&project_id={}",
            uuid::Uuid::now_v7()
        ),
        None,
    )
    .await;
    assert_eq!(other.status(), 404);
}
