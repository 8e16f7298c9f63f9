//! The registry's portal pages, as a browser fetches them.

use crate::helpers::{TestApp, edited, packet};

async fn onboard(app: &TestApp, text: String) {
    let res = app
        .post("/api/v1/registry/packets/onboard", "application/toml", text)
        .await;
    assert_eq!(res.status(), 200);
}

async fn page(app: &TestApp, path: &str) -> String {
    let res = app.page(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.expect("html")
}

#[tokio::test]
async fn products_page_lists_onboarded_products_and_the_nav_links_to_it() {
    let app = TestApp::spawn().await;
    onboard(&app, packet("platform")).await;

    let html = page(&app, "/products").await;

    assert!(html.contains(r#"<a href="/products/platform">"#), "{html}");
    assert!(
        html.contains(r#"<a href="/products" aria-current="page">Products</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"href="/registry/scopes""#));
}

#[tokio::test]
async fn product_page_shows_the_review_checklist_and_revision_history() {
    let app = TestApp::spawn().await;
    onboard(&app, packet("platform")).await;
    onboard(&app, packet("token-factory")).await;

    let html = page(&app, "/products/token-factory").await;

    assert!(html.contains(r#"id="verdict">ready"#), "{html}");
    assert!(html.contains("Policy and quota"));
    assert!(html.contains("the portal has developer, product and operator paths"));
    assert!(html.contains("What would force a future extraction?"));
    assert!(html.contains("<td>1</td>"), "revision 1 listed");
    for persona in ["developer", "operator", "product"] {
        assert!(
            html.contains(&format!(r#"<span class="tag">{persona}</span>"#)),
            "no {persona} page link"
        );
    }
}

#[tokio::test]
async fn persona_pages_render_markdown_and_never_raw_html() {
    let app = TestApp::spawn().await;
    onboard(&app, packet("platform")).await;
    let text = edited(&packet("token-factory"), |t| {
        let pages = t["portal"]["pages"].as_array_mut().expect("pages");
        let first = pages[0].as_table_mut().expect("page");
        first.insert(
            "body".into(),
            "# Hello\n\nUse **keys**.\n\n<script>alert(1)</script>\n".into(),
        );
    });
    onboard(&app, text.clone()).await;
    let table: toml::Table = toml::from_str(&text).expect("toml");
    let id = table["portal"]["pages"][0]["id"]
        .as_str()
        .expect("page id")
        .to_owned();

    let html = page(&app, &format!("/products/token-factory/pages/{id}")).await;

    assert!(html.contains("<h1>Hello</h1>"), "{html}");
    assert!(html.contains("<strong>keys</strong>"));
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn family_browser_filters_by_product_and_state() {
    let app = TestApp::spawn().await;
    onboard(&app, packet("platform")).await;
    onboard(&app, packet("token-factory")).await;

    let all = page(&app, "/registry/scopes").await;
    let tf = page(&app, "/registry/scopes?product=token_factory&state=active").await;

    assert!(
        all.contains("platform.admin") || all.contains("<code>platform."),
        "{all}"
    );
    assert!(tf.contains("token_factory.inference"));
    assert!(!tf.contains("<code>platform."), "filtered to one product");
    assert_eq!(app.page("/registry/wizards").await.status(), 404);
}
