use crate::helpers::TestApp;

#[tokio::test]
async fn landing_page_shows_version_database_status_and_modules() {
    let app = TestApp::spawn().await;

    let res = app.page("/").await;

    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.contains(env!("CARGO_PKG_VERSION")));
    assert!(html.contains("connected, migrations current"), "{html}");
    for area in [
        "Access",
        "Billing",
        "Policy",
        "Products",
        "Audit",
        "Evidence",
        "Status",
        "Token Factory",
    ] {
        assert!(html.contains(area), "nav lacks {area}");
    }
}

#[tokio::test]
async fn the_portal_fails_closed_and_says_why_when_the_database_is_unreachable() {
    let app = TestApp::spawn().await;
    assert_eq!(app.page("/").await.status(), 200);
    app.db.drop_now();

    let res = app.page("/").await;

    assert_eq!(res.status(), 503);
    let html = res.text().await.expect("html");
    assert!(html.contains("the database is unavailable"), "{html}");
}

#[tokio::test]
async fn portal_pages_send_anonymous_visitors_to_sign_in() {
    let app = TestApp::spawn().await;

    let res = app.get("/products?x=1").await;

    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login?next=/products");
}

#[tokio::test]
async fn stylesheet_is_served_with_long_lived_caching_and_etag() {
    let app = TestApp::spawn().await;
    let html = app.page("/").await.text().await.expect("html");
    let start = html.find("/static/app.css?v=").expect("versioned css link");
    let href = &html[start
        ..html[start..]
            .find('"')
            .map(|end| start + end)
            .expect("closing quote")];

    let res = app.get(href).await;

    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/css")
    );
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("max-age=")
    );
    let etag = res.headers()["etag"].clone();
    let again = app
        .client
        .get(app.url(href))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
}
