//! The portal's gate decides on the path the router matches: percent-encoding a page's path
//! neither skips sign-in nor the area's scope.

use crate::helpers::TestApp;
use crate::iam_tenants::{PASSWORD, user};

/// Pages across every area that is present, and the overview.
const PAGES: [&str; 8] = [
    "/",
    "/audit",
    "/audit/verify",
    "/events/dead-letters",
    "/products",
    "/registry/roles",
    "/access",
    "/account",
];

/// `path` with its first letter, then every letter, percent-encoded.
fn encodings(path: &str) -> Vec<String> {
    let first = path
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, c)| format!("{}%{:02x}{}", &path[..i], c as u8, &path[i + 1..]));
    let every: String = path
        .chars()
        .map(|c| match c.is_ascii_alphabetic() {
            true => format!("%{:02X}", c as u8),
            false => c.to_string(),
        })
        .collect();
    first.into_iter().chain([every]).collect()
}

#[tokio::test]
async fn percent_encoded_page_paths_still_send_anonymous_visitors_to_sign_in() {
    let app = TestApp::spawn().await;

    for page in PAGES.iter().skip(1) {
        for path in encodings(page) {
            let res = app.client.get(app.url(&path)).send().await.expect("sent");

            assert_eq!(res.status(), 303, "GET {path} without a session");
            let location = res.headers()["location"].to_str().expect("ascii");
            assert!(location.starts_with("/login?next="), "{path}: {location}");
        }
    }
}

#[tokio::test]
async fn percent_encoded_paths_do_not_skip_an_areas_scope() {
    let app = TestApp::spawn().await;
    app.admin_key().await;
    let platform = crate::helpers::platform_for(&app.db, &[]).await;
    user(&platform, "plain@example.test").await;
    let browser = app.sign_in("plain@example.test", PASSWORD).await;

    for path in ["/audit", "/events/dead-letters", "/registry/roles"]
        .iter()
        .flat_map(|p| encodings(p))
    {
        let res = browser.get(app.url(&path)).send().await.expect("sent");

        assert_eq!(
            res.status(),
            403,
            "GET {path} as a person without the scope"
        );
    }
    let access = browser
        .get(app.url("/%61ccess"))
        .send()
        .await
        .expect("sent");
    assert_eq!(access.status(), 200, "everyone's area still opens");
}

#[tokio::test]
async fn a_signed_in_path_no_route_matches_is_not_found() {
    let app = TestApp::spawn().await;

    let res = app.page("/%6eowhere").await;

    assert_eq!(res.status(), 404);
}
