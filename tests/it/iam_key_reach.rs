//! One key-scope rule: a decision (`Keys::decide`, what products and the gateway ask) and
//! route authorization (`Access::authorize`, what every handler asks) give the same answer
//! for the same key, scope and place.

use aicloud::platform::iam::{Caller, KeyHolder, NewKey, OrgKind, Principal, Target};
use uuid::Uuid;

use crate::helpers::{TestDb, admin_key_for};
use crate::iam_keys::{console, in_process_tenant};

/// A place as a route names it and as a decision names it.
struct At {
    target: Target,
    organization: Uuid,
    project: Option<Uuid>,
}

const SCOPES: [&str; 4] = [
    "platform.iam.read",
    "platform.billing.read",
    "token_factory.inference",
    "token_factory.admin",
];

/// For every place and scope: whether the decision allows, after asserting the route agrees.
async fn agreed(
    platform: &aicloud::app::Platform,
    key: &Principal,
    places: &[At],
) -> Vec<(String, &'static str, bool)> {
    let mut answers = Vec::new();
    for at in places {
        for scope in SCOPES {
            let decided = platform.keys.decide(
                key,
                scope,
                aicloud::platform::iam::OrganizationId(at.organization),
                at.project.map(aicloud::platform::iam::ProjectId),
            );
            let routed = platform
                .access
                .authorize(&Caller::Key(key.clone()), scope, at.target.clone())
                .await;
            assert_eq!(
                decided.allow,
                routed.is_ok(),
                "key {} at {:?} with {scope}: decision {decided:?}, route {routed:?}",
                key.key_prefix,
                at.target
            );
            answers.push((format!("{:?}", at.target), scope, decided.allow));
        }
    }
    answers
}

fn allowed(answers: &[(String, &'static str, bool)], target: &Target, scope: &str) -> bool {
    let target = format!("{target:?}");
    answers
        .iter()
        .any(|(t, s, allow)| *t == target && *s == scope && *allow)
}

/// A tenant the project key does not belong to.
async fn second_tenant(
    platform: &aicloud::app::Platform,
) -> aicloud::platform::iam::CreatedOrganization {
    let actor = aicloud::platform::iam::Caller::Console("test".into());
    let created = platform
        .iam
        .create_organization(&actor, "other", "Other", OrgKind::Team, None);
    created.await.expect("second organization")
}

#[tokio::test]
async fn decisions_and_route_authorization_agree_for_platform_and_project_keys() {
    let db = TestDb::create();
    let (platform, acme, sa) = in_process_tenant(&db).await;
    let other = second_tenant(&platform).await;
    let admin_secret = admin_key_for(&platform).await;
    let admin = platform
        .keys
        .authenticate(&admin_secret)
        .expect("admin key");
    let issued = platform
        .keys
        .issue_key(
            &console(),
            NewKey {
                holder: KeyHolder::ServiceAccount(sa.id),
                name: "client".into(),
                scopes: vec!["token_factory.inference".into()],
                model_allowlist: None,
                expires_at: None,
            },
        )
        .await
        .expect("issued");
    let project_key = platform.keys.authenticate(&issued.secret).expect("key");
    let place = |org: &str, project: Option<&str>, ids: (Uuid, Option<Uuid>)| At {
        target: match project {
            Some(project) => Target::project(org, project),
            None => Target::org(org),
        },
        organization: ids.0,
        project: ids.1,
    };
    let (a, o) = (&acme, &other);
    let places = [
        place("acme", None, (a.organization.id, None)),
        place(
            "acme",
            Some("default"),
            (a.organization.id, Some(a.project.id)),
        ),
        place("other", None, (o.organization.id, None)),
        place(
            "other",
            Some("default"),
            (o.organization.id, Some(o.project.id)),
        ),
        place("platform-ops", None, (admin.organization_id, None)),
        place(
            "platform-ops",
            Some("default"),
            (admin.organization_id, Some(admin.project_id)),
        ),
    ];

    let by_admin = agreed(&platform, &admin, &places).await;
    let by_project_key = agreed(&platform, &project_key, &places).await;

    // The platform-wide key reaches every tenant with its scopes, and only with those.
    for at in &places {
        assert!(allowed(&by_admin, &at.target, "platform.iam.read"));
        assert!(!allowed(&by_admin, &at.target, "token_factory.inference"));
    }
    // The project key holds its scope in its project only.
    let own_project = Target::project("acme", "default");
    for at in &places {
        assert_eq!(
            allowed(&by_project_key, &at.target, "token_factory.inference"),
            at.target == own_project,
            "{:?}",
            at.target
        );
        assert!(!allowed(&by_project_key, &at.target, "platform.iam.read"));
    }
    let elsewhere = platform.keys.decide(
        &project_key,
        "token_factory.inference",
        aicloud::platform::iam::OrganizationId(other.organization.id),
        None,
    );
    assert_eq!(elsewhere.reason, "other_tenant");
}

#[tokio::test]
async fn a_keys_route_authorization_needs_no_database_round_trip() {
    let db = TestDb::create();
    let (platform, _, sa) = in_process_tenant(&db).await;
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "k".into(),
        scopes: vec!["token_factory.inference".into()],
        model_allowlist: None,
        expires_at: None,
    };
    let secret = platform
        .keys
        .issue_key(&console(), key)
        .await
        .expect("key")
        .secret;
    let principal = platform.keys.authenticate(&secret).expect("known");
    let person = Caller::User(crate::iam_tenants::user(&platform, "p@example.test").await);

    // Gone: every connection cut, nothing left to query.
    db.drop_now();
    let target = || Target::project("acme", "default");
    let by_key = platform
        .access
        .authorize(
            &Caller::Key(principal.clone()),
            "token_factory.inference",
            target(),
        )
        .await;
    let elsewhere = platform
        .access
        .authorize(
            &Caller::Key(principal),
            "token_factory.inference",
            Target::org("nope"),
        )
        .await;
    let by_person = platform
        .access
        .authorize(&person, "platform.iam.read", target())
        .await;

    assert!(by_key.is_ok(), "placed and decided from memory: {by_key:?}");
    assert!(
        elsewhere.is_err(),
        "an unknown organization is still not found"
    );
    assert!(
        by_person.is_err(),
        "a person's memberships are read from the database"
    );
}
