//! IAM tenancy: organizations come with a default department and project, projects stay in
//! their organization's departments, and every change is audited.

use aicloud::platform::audit::EventFilter;
use aicloud::platform::iam::{Caller, OrgKind};
use diesel::prelude::*;

use crate::helpers::{TestDb, aicloud, platform_for};

/// The administrator's console.
fn actor() -> Caller {
    Caller::Console("test".into())
}

#[tokio::test]
async fn an_organization_comes_with_a_default_department_and_project_all_audited() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;

    let created = platform
        .iam
        .create_organization(&actor(), "acme", "Acme Corp", OrgKind::Team, None)
        .await
        .expect("created");

    assert_eq!(created.department.slug, "default");
    assert!(created.department.is_default);
    assert_eq!(created.project.slug, "default");
    assert_eq!(created.project.department_id, created.department.id);
    let audited = platform
        .audit
        .query(EventFilter {
            organization_id: Some(created.organization.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = audited.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "platform.project.created",
            "platform.department.created",
            "platform.organization.created"
        ]
    );
    assert_eq!(audited.events[0].project_id, Some(created.project.id));
}

#[tokio::test]
async fn slugs_are_validated_and_unique() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    platform
        .iam
        .create_organization(&actor(), "acme", "Acme", OrgKind::Team, None)
        .await
        .expect("created");

    let again = platform
        .iam
        .create_organization(&actor(), "acme", "Acme again", OrgKind::Team, None)
        .await;
    let bad = platform
        .iam
        .create_organization(&actor(), "Acme Corp!", "Acme", OrgKind::Team, None)
        .await;
    let project_again = platform
        .iam
        .create_project(&actor(), "acme", "default", "Default again", None)
        .await;

    assert!(
        again
            .expect_err("duplicate")
            .to_string()
            .contains("already exists")
    );
    assert!(
        bad.expect_err("bad slug")
            .to_string()
            .contains("invalid `slug`")
    );
    assert!(
        project_again
            .expect_err("duplicate project")
            .to_string()
            .contains("already exists")
    );
    assert_eq!(platform.iam.organizations().await.expect("listed").len(), 1);
}

#[tokio::test]
async fn a_project_cannot_sit_in_another_organizations_department() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    let a = platform
        .iam
        .create_organization(&actor(), "org-a", "A", OrgKind::Team, None)
        .await
        .expect("a");
    let b = platform
        .iam
        .create_organization(&actor(), "org-b", "B", OrgKind::Team, None)
        .await
        .expect("b");

    let unknown = platform
        .iam
        .create_project(&actor(), "org-a", "research", "Research", Some("finance"))
        .await;
    let mut conn = db.connect();
    // Even writing the tables directly, the database refuses a cross-organization department.
    let forged = diesel::sql_query(format!(
        "INSERT INTO iam.projects (id, organization_id, department_id, slug, name, created_at) \
         VALUES ('{}', '{}', '{}', 'forged', 'Forged', now())",
        uuid::Uuid::now_v7(),
        a.organization.id,
        b.department.id
    ))
    .execute(&mut conn);

    assert!(
        unknown
            .expect_err("no such department")
            .to_string()
            .contains("no department `finance`")
    );
    assert!(
        forged
            .expect_err("cross-organization")
            .to_string()
            .contains("foreign key")
    );
}

#[tokio::test]
async fn suspending_is_audited_and_happens_once() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    platform
        .iam
        .create_organization(&actor(), "acme", "Acme", OrgKind::Team, None)
        .await
        .expect("created");

    let suspended = platform
        .iam
        .set_organization_active(&actor(), "acme", false)
        .await
        .expect("suspended");
    let twice = platform
        .iam
        .set_organization_active(&actor(), "acme", false)
        .await;
    let missing = platform
        .iam
        .set_organization_active(&actor(), "nobody", false)
        .await;

    assert_eq!(suspended.state, "suspended");
    assert!(twice.is_err());
    assert!(
        missing
            .expect_err("missing")
            .to_string()
            .contains("no organization `nobody`")
    );
    let audited = platform
        .audit
        .query(EventFilter {
            action: Some("platform.organization.suspended".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audited.events.len(), 1);
}

#[tokio::test]
async fn the_cli_creates_lists_and_suspends() {
    let db = TestDb::create();
    let _platform = platform_for(&db, &[]).await;

    let created = aicloud(
        &db,
        &["org", "create", "acme", "--name", "Acme Corp", "--json"],
    );
    let project = aicloud(
        &db,
        &[
            "project", "create", "acme", "research", "--name", "Research",
        ],
    );
    let projects = aicloud(&db, &["project", "list", "acme", "--json"]);
    let suspended = aicloud(&db, &["org", "suspend", "acme"]);
    let orgs = aicloud(&db, &["org", "list", "--json"]);
    let bad_kind = aicloud(
        &db,
        &["org", "create", "x", "--name", "X", "--kind", "club"],
    );

    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("json");
    assert_eq!(created["project"]["slug"], "default");
    assert!(project.status.success());
    let projects: serde_json::Value = serde_json::from_slice(&projects.stdout).expect("json");
    let slugs: Vec<&str> = projects
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["default", "research"]);
    assert!(suspended.status.success());
    let orgs: serde_json::Value = serde_json::from_slice(&orgs.stdout).expect("json");
    assert_eq!(orgs[0]["state"], "suspended");
    assert!(!bad_kind.status.success());
    assert!(String::from_utf8_lossy(&bad_kind.stderr).contains("--kind `club`"));
}
