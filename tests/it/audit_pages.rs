//! The audit log in the portal.

use crate::helpers::{TestApp, packet};

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
