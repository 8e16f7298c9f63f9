use crate::helpers::{TestApp, packet, platform_for};

/// Onboards the platform's and Token Factory's packets (in process) and waits until the
/// server is ready.
async fn onboard_and_wait(app: &TestApp) {
    let platform = platform_for(&app.db, &[]).await;
    let source = aicloud::platform::registry::PacketSource {
        origin: "config/products/token-factory.toml".into(),
        text: packet("token-factory"),
        format: aicloud::platform::registry::Format::Toml,
    };
    platform
        .registry
        .onboard(source, aicloud::platform::audit::Actor::system("test"))
        .await
        .expect("token factory onboards");
    for _ in 0..100 {
        if app.get("/readyz").await.status() == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never ready after onboarding");
}

#[tokio::test]
async fn healthz_answers_ok_with_the_version() {
    let app = TestApp::spawn().await;

    let res = app.get("/healthz").await;

    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn readyz_is_ready_once_the_database_is_migrated_and_token_factory_onboarded() {
    let app = TestApp::spawn().await;
    let before = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    let detail = before.json::<serde_json::Value>().await.expect("json")["detail"].clone();

    onboard_and_wait(&app).await;
    let res = app.get("/readyz").await;

    let detail = detail.as_str().expect("a reason");
    assert!(
        detail.contains("Token Factory is not onboarded"),
        "{detail}"
    );
    assert!(
        detail.contains("aicloud product onboard config/products/token-factory.toml"),
        "{detail}"
    );
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["migrations"], "current");
}

#[tokio::test]
async fn readyz_answers_503_with_a_reason_when_the_database_is_unreachable() {
    let app = TestApp::spawn().await;
    onboard_and_wait(&app).await;

    app.db.drop_now();
    let res = app.get("/readyz").await;

    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["type"], "urn:aicloud:problem:unavailable");
    assert_eq!(body["detail"], "service unavailable: database unreachable");
}

#[tokio::test]
async fn openapi_document_lists_the_json_routes() {
    let app = TestApp::spawn().await;

    let res = app.get("/api/openapi.json").await;

    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.expect("json");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let routes = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/api/v1/registry/products"),
        ("get", "/api/v1/registry/products/{slug}"),
        ("get", "/api/v1/registry/products/{slug}/review"),
        ("get", "/api/v1/registry/products/{slug}/revisions"),
        ("get", "/api/v1/registry/{family}"),
        ("post", "/api/v1/registry/packets/review"),
        ("post", "/api/v1/registry/packets/onboard"),
        ("get", "/api/v1/audit/events"),
        ("get", "/api/v1/audit/events/{id}"),
        ("get", "/api/v1/audit/verify"),
        ("get", "/api/v1/audit/digests"),
        ("get", "/api/v1/audit/public-key"),
        ("get", "/api/v1/events/dead-letters"),
        ("post", "/api/v1/events/dead-letters/{id}/replay"),
        ("get", "/api/v1/iam/me"),
        ("post", "/api/v1/iam/decisions"),
    ];
    for (method, path) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn readyz_names_pending_migrations() {
    use diesel_migrations::MigrationHarness;

    let app = TestApp::spawn().await;
    let mut conn = app.db.connect();
    // A database one release behind: the newest migration not applied.
    conn.revert_last_migration(aicloud::base::db::MIGRATIONS)
        .expect("newest migration reverts");
    let pending = conn
        .pending_migrations(aicloud::base::db::MIGRATIONS)
        .expect("pending listed")[0]
        .name()
        .to_string();

    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.expect("json");
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.contains("1 migration(s) pending"), "{detail}");
    assert!(detail.contains(&pending), "{detail} should name {pending}");
}
