//! API keys: issued once, stored as hashes, authenticated from memory, revoked everywhere
//! within a second, denied for suspended organizations, decided by registry scopes.

use std::time::Duration;

use aicloud::platform::audit::Actor;
use aicloud::platform::iam::{Caller, KeyHolder, NewKey, OrgKind};
use diesel::prelude::*;

use crate::helpers::{TestApp, TestDb, aicloud, packet};

const TOML: &str = "application/toml";

/// The platform packet onboarded, an organization `acme` with a service account.
pub async fn tenant(app: &TestApp) -> (serde_json::Value, String) {
    let res = app
        .post("/api/v1/registry/packets/onboard", TOML, packet("platform"))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            "/api/v1/registry/packets/onboard",
            TOML,
            packet("token-factory"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let org = aicloud(
        &app.db,
        &["org", "create", "acme", "--name", "Acme", "--json"],
    );
    assert!(
        org.status.success(),
        "{}",
        String::from_utf8_lossy(&org.stderr)
    );
    let org: serde_json::Value = serde_json::from_slice(&org.stdout).expect("json");
    let sa = aicloud(
        &app.db,
        &[
            "sa",
            "create",
            "acme",
            "default",
            "gateway-client",
            "--owner",
            "ops@acme.test",
            "--purpose",
            "calls models",
            "--json",
        ],
    );
    assert!(
        sa.status.success(),
        "{}",
        String::from_utf8_lossy(&sa.stderr)
    );
    let sa: serde_json::Value = serde_json::from_slice(&sa.stdout).expect("json");
    (org, sa["id"].as_str().expect("sa id").to_owned())
}

/// `aicloud key issue --json` for `acme/default`'s service account `gateway-client` (the
/// one `tenant` makes) with `scopes` (comma-separated).
pub fn issue(app: &TestApp, scopes: &str) -> std::process::Output {
    aicloud(
        &app.db,
        &[
            "key",
            "issue",
            "acme",
            "default",
            "--service-account",
            "gateway-client",
            "--name",
            "ci",
            "--scopes",
            scopes,
            "--json",
        ],
    )
}

/// GET /api/v1/iam/me with `secret` as the bearer.
pub async fn me(app: &TestApp, secret: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/iam/me"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn an_issued_key_authenticates_and_its_secret_is_stored_nowhere() {
    let app = TestApp::spawn().await;
    let (org, _) = tenant(&app).await;

    let issued = issue(&app, "token_factory.inference,token_factory.models.read");
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let issued: serde_json::Value = serde_json::from_slice(&issued.stdout).expect("json");
    let secret = issued["secret"].as_str().expect("secret").to_owned();
    let mut principal = serde_json::Value::Null;
    for _ in 0..20 {
        let res = me(&app, &secret).await;
        if res.status() == 200 {
            principal = res.json().await.expect("json");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(
        principal["organization_id"], org["organization"]["id"],
        "{principal:#}"
    );
    assert_eq!(principal["kind"], "service_account");
    assert_eq!(principal["scopes"][0], "token_factory.inference");
    let listed = aicloud(&app.db, &["key", "list", "acme", "default", "--json"]);
    let secret_part = secret.rsplit('_').next().expect("secret part");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(secret_part));
    let mut conn = app.db.connect();
    let dump: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "(SELECT string_agg(t::text, ' ') FROM iam.api_keys t) || (SELECT string_agg(e::text, ' ') FROM audit.events e)",
    ))
    .get_result(&mut conn)
    .expect("dump");
    assert!(!dump.contains(secret_part), "the secret is in the database");
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys_are_401_problems() {
    let app = TestApp::spawn().await;

    let none = app
        .client
        .get(app.url("/api/v1/iam/me"))
        .send()
        .await
        .expect("sent");
    let malformed = me(&app, "not-a-key").await;
    let unknown = me(&app, "aic_0123456789ab_deadbeef").await;

    for res in [none, malformed, unknown] {
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
}

#[tokio::test]
async fn a_revoke_in_another_process_is_denied_here_within_a_second() {
    let app = TestApp::spawn().await;
    tenant(&app).await;
    let issued: serde_json::Value =
        serde_json::from_slice(&issue(&app, "token_factory.inference").stdout).expect("json");
    let secret = issued["secret"].as_str().expect("secret").to_owned();
    let prefix = issued["key"]["prefix"].as_str().expect("prefix").to_owned();
    for _ in 0..20 {
        if me(&app, &secret).await.status() == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(me(&app, &secret).await.status(), 200);

    let revoked = aicloud(&app.db, &["key", "revoke", &prefix]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let started = std::time::Instant::now();
    while me(&app, &secret).await.status() == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn keys_of_a_suspended_organization_are_denied() {
    let app = TestApp::spawn().await;
    tenant(&app).await;
    let issued: serde_json::Value =
        serde_json::from_slice(&issue(&app, "token_factory.inference").stdout).expect("json");
    let secret = issued["secret"].as_str().expect("secret").to_owned();

    assert!(
        aicloud(&app.db, &["org", "suspend", "acme"])
            .status
            .success()
    );
    let started = std::time::Instant::now();
    while me(&app, &secret).await.status() == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn keys_only_carry_active_registry_scopes_and_decisions_follow_scope_and_tenant() {
    let db = crate::helpers::TestDb::create();
    let (platform, acme, sa) = in_process_tenant(&db).await;
    let other = platform
        .iam
        .create_organization(
            &aicloud::platform::iam::Caller::Console("test".into()),
            "other",
            "Other",
            OrgKind::Team,
            None,
        )
        .await
        .expect("org");
    let key = |scopes: &[&str]| NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "k".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        model_allowlist: None,
        expires_at: None,
    };

    let unknown = platform
        .keys
        .issue_key(&console(), key(&["token_factory.teleport"]))
        .await;
    let issued = platform
        .keys
        .issue_key(&console(), key(&["token_factory.inference"]))
        .await
        .expect("issued");
    let principal = platform
        .keys
        .authenticate(&issued.secret)
        .expect("authenticated");
    let org = acme.organization.id;

    assert!(
        unknown
            .expect_err("unregistered scope")
            .to_string()
            .contains("not an active registry scope")
    );
    assert!(
        platform
            .keys
            .decide(
                &principal,
                "token_factory.inference",
                aicloud::platform::iam::OrganizationId(org),
                Some(aicloud::platform::iam::ProjectId(acme.project.id))
            )
            .allow
    );
    assert_eq!(
        platform
            .keys
            .decide(
                &principal,
                "token_factory.admin",
                aicloud::platform::iam::OrganizationId(org),
                None
            )
            .reason,
        "scope_not_held"
    );
    // A service account's key is project-scoped: not even its own scope holds org-wide.
    assert_eq!(
        platform
            .keys
            .decide(
                &principal,
                "token_factory.inference",
                aicloud::platform::iam::OrganizationId(org),
                None
            )
            .reason,
        "scope_not_held"
    );
    assert_eq!(
        platform
            .keys
            .decide(
                &principal,
                "token_factory.inference",
                aicloud::platform::iam::OrganizationId(other.organization.id),
                None
            )
            .reason,
        "other_tenant"
    );
    let wrong_secret = format!("{}x", &issued.secret[..issued.secret.len() - 1]);
    assert!(platform.keys.authenticate(&wrong_secret).is_err());
}

#[tokio::test]
async fn out_of_process_products_ask_for_decisions_with_a_key_holding_the_decisions_scope() {
    let app = TestApp::spawn().await;
    let (org, _) = tenant(&app).await;
    let json = |out: std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let product = json(issue(&app, "platform.decisions.check"));
    let client = json(issue(&app, "token_factory.inference"));
    let (product, client) = (
        product["secret"].as_str().expect("secret"),
        client["secret"].as_str().expect("secret"),
    );
    let ask = |bearer: &str, scope: &str| {
        app.client
            .post(app.url("/api/v1/iam/decisions"))
            .bearer_auth(bearer)
            .json(&serde_json::json!({
                "subject": client,
                "scope": scope,
                "organization_id": org["organization"]["id"],
                "project_id": org["project"]["id"],
            }))
            .send()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let allowed: serde_json::Value = ask(product, "token_factory.inference")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let denied: serde_json::Value = ask(product, "token_factory.admin")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let forbidden = ask(client, "token_factory.inference").await.expect("sent");

    assert_eq!(allowed["allow"], true, "{allowed:#}");
    assert_eq!(denied["reason"], "scope_not_held");
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn rotation_issues_a_replacement_and_ends_the_old_key_after_its_grace() {
    let db = crate::helpers::TestDb::create();
    let (platform, _, sa) = in_process_tenant(&db).await;
    let new_key = || NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "k".into(),
        scopes: vec!["token_factory.inference".into()],
        model_allowlist: Some(vec!["demo".into()]),
        expires_at: None,
    };
    let graceful = platform
        .keys
        .issue_key(&console(), new_key())
        .await
        .expect("issued");
    let abrupt = platform
        .keys
        .issue_key(&console(), new_key())
        .await
        .expect("issued");

    let after_grace = platform
        .keys
        .rotate_key(&console(), &graceful.key.prefix, Duration::from_secs(3600))
        .await
        .expect("rotated");
    let at_once = platform
        .keys
        .rotate_key(&console(), &abrupt.key.prefix, Duration::ZERO)
        .await
        .expect("rotated");

    assert!(
        platform.keys.authenticate(&graceful.secret).is_ok(),
        "still inside its grace period"
    );
    assert!(
        platform.keys.authenticate(&abrupt.secret).is_err(),
        "no grace: gone at once"
    );
    for replacement in [&after_grace, &at_once] {
        let principal = platform
            .keys
            .authenticate(&replacement.secret)
            .expect("replacement works");
        assert_eq!(principal.model_allowlist, Some(vec!["demo".to_owned()]));
    }
    let again = platform
        .keys
        .rotate_key(&console(), &abrupt.key.prefix, Duration::ZERO)
        .await;
    assert!(again.is_err(), "a revoked key cannot be rotated");
}

/// In process: Token Factory onboarded, organization `acme` and a service account in its
/// default project.
pub async fn in_process_tenant(
    db: &TestDb,
) -> (
    std::sync::Arc<aicloud::app::Platform>,
    aicloud::platform::iam::CreatedOrganization,
    aicloud::platform::iam::ServiceAccount,
) {
    let platform = crate::helpers::platform_for(db, &[]).await;
    let tf = aicloud::platform::registry::PacketSource {
        origin: "tf".into(),
        text: packet("token-factory"),
        format: aicloud::platform::registry::Format::Toml,
    };
    platform
        .registry
        .onboard(tf, Actor::system("test"))
        .await
        .expect("onboarded");
    let acme = platform
        .iam
        .create_organization(
            &aicloud::platform::iam::Caller::Console("test".into()),
            "acme",
            "Acme",
            OrgKind::Team,
            None,
        )
        .await
        .expect("org");
    let sa = platform
        .keys
        .create_service_account(&console(), "acme", "default", "client", "ops", "testing")
        .await
        .expect("sa");
    (platform, acme, sa)
}

/// The administrator at the command line.
pub fn console() -> Caller {
    Caller::Console("test".into())
}
