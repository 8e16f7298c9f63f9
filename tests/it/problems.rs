//! Errors answer RFC 9457 problem+json, every response carries a request id.

use crate::helpers::TestApp;

async fn problem(res: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "status {}",
        res.status()
    );
    res.json().await.expect("problem body is JSON")
}

#[tokio::test]
async fn unknown_path_is_a_404_problem() {
    let app = TestApp::spawn().await;

    let res = app.get("/no/such/thing").await;

    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(body["type"], "urn:aicloud:problem:not-found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["instance"], "/no/such/thing");
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_a_405_problem() {
    let app = TestApp::spawn().await;

    let res = app
        .client
        .post(app.url("/healthz"))
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 405);
    let body = problem(res).await;
    assert_eq!(body["type"], "urn:aicloud:problem:method-not-allowed");
}

#[tokio::test]
async fn a_browser_gets_an_html_error_page_on_portal_paths() {
    let app = TestApp::spawn().await;

    let res = app
        .client
        .get(app.url("/no-such-page"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 404);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = res.text().await.expect("text");
    assert!(html.contains("404 · Not Found"), "{html}");
}

#[tokio::test]
async fn api_paths_answer_problem_json_even_to_browsers() {
    let app = TestApp::spawn().await;

    let res = app
        .client
        .get(app.url("/api/v1/nothing"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("sent");

    assert_eq!(res.status(), 404);
    problem(res).await;
}

#[tokio::test]
async fn every_response_gets_a_fresh_request_id() {
    let app = TestApp::spawn().await;

    let first = app.get("/healthz").await;
    let second = app.get("/no/such/thing").await;

    let id = |res: &reqwest::Response| {
        res.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let (a, b) = (id(&first), id(&second));
    assert_ne!(a, b);
    assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
    let body = problem(second).await;
    assert_eq!(body["request_id"], b.as_str());
}

#[tokio::test]
async fn a_well_formed_client_request_id_is_kept() {
    let app = TestApp::spawn().await;

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "client-trace.42_a")
        .send()
        .await
        .expect("sent");

    assert_eq!(res.headers()["x-request-id"], "client-trace.42_a");
}

#[tokio::test]
async fn a_malformed_client_request_id_is_replaced() {
    let app = TestApp::spawn().await;

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "has spaces; and <html>")
        .send()
        .await
        .expect("sent");

    let id = res.headers()["x-request-id"].to_str().expect("ascii");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[test]
fn an_internal_error_never_shows_its_cause() {
    let err = aicloud::kit::error::ApiError::Internal("password=hunter2 at db.rs:42".into());

    let problem = err.to_problem(Some("/x".into()), Some("req-1".into()));

    assert_eq!(problem.status, 500);
    assert!(!problem.detail.contains("hunter2"), "{}", problem.detail);
    assert!(problem.detail.contains("request id"));
}
