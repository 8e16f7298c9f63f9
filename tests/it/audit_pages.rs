//! The audit log in the portal.

use crate::helpers::{ADMIN_EMAIL, TestApp, packet};

async fn html(app: &TestApp, path: &str) -> String {
    let res = app.page(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.text().await.expect("html")
}

#[tokio::test]
async fn the_log_lists_events_links_details_and_shows_the_chain_badge_after_verifying() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/api/v1/registry/packets/onboard",
            "application/toml",
            packet("platform"),
        )
        .await;
    assert_eq!(res.status(), 200);

    let before = html(&app, "/audit").await;
    let verify = app.page("/audit/verify").await;
    let after = html(&app, "/audit").await;

    assert!(before.contains("platform.product.onboarded"), "{before}");
    assert!(before.contains("not verified since the server started"));
    assert_eq!(verify.status(), 303);
    assert!(after.contains("verified through seq "), "{after}");
    // The oldest event, seq 1, is the last row.
    let start = after.rfind("/audit/events/").expect("a detail link");
    let href = &after[start..after[start..].find('"').map(|e| start + e).expect("quote")];
    let detail = html(&app, href).await;
    assert!(detail.contains("platform.retention.audit_7y"));
    assert!(
        detail.contains("0000000000000000000000000000000000000000000000000000000000000000"),
        "first prev_hash"
    );
}

#[tokio::test]
async fn filters_narrow_the_log_and_bad_filters_say_why() {
    let app = TestApp::spawn().await;
    app.post(
        "/api/v1/registry/packets/onboard",
        "application/toml",
        packet("platform"),
    )
    .await;

    // Nothing failed (denials there are: the 403s while the server learnt the key).
    let failed = html(&app, "/audit?result=failed").await;
    let bad = html(&app, "/audit?from=yesterday").await;

    assert!(failed.contains("No events match."));
    assert!(bad.contains("is not an RFC 3339 time"), "{bad}");
}

/// The `href` of the first link in `html` that starts with `prefix`.
fn first_href<'a>(html: &'a str, prefix: &str) -> &'a str {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {html}"));
    let end = html[start..].find('"').expect("the link's closing quote");
    &html[start..start + end]
}

#[tokio::test]
async fn a_person_is_named_by_email_and_their_events_are_a_click_away() {
    let app = TestApp::spawn().await;
    let named = format!("user:{ADMIN_EMAIL}");

    let log = html(&app, "/audit?action=platform.session.started").await;
    assert!(log.contains(&format!(">{named}</a>")), "{log}");
    let theirs = html(&app, first_href(&log, "/audit?actor=")).await;
    let detail = html(&app, first_href(&theirs, "/audit/events/")).await;

    assert!(theirs.contains("platform.session.started"), "{theirs}");
    assert!(
        !theirs.contains("platform.product.onboarded"),
        "the administrator's key onboarded the packet, not the person: {theirs}"
    );
    assert!(detail.contains(&named), "{detail}");
}
