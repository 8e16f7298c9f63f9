//! Token Factory's portal pages as a signed-in person sees them: the developer page with a
//! project's keys, the quickstart and the usage chart; the operator pages for models and
//! errors, which need an operator-class role held platform-wide.

use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, aicloud};
use crate::tf_support::Gate;

#[tokio::test]
async fn a_platform_operator_sees_keys_usage_models_health_and_recent_errors() {
    let gate = Gate::start().await;
    assert_eq!(
        gate.post("/chat/completions", &Gate::chat("mock", "for the chart"))
            .await
            .status(),
        200
    );
    assert_eq!(
        gate.post(
            "/chat/completions",
            &json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]})
        )
        .await
        .status(),
        404
    );
    gate.mock
        .behaviour
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        gate.post("/chat/completions", &Gate::chat("mock", "failing"))
            .await
            .status(),
        502
    );
    let browser = gate.app.browser().await;
    let refused = browser
        .get(gate.app.url("/token-factory/models"))
        .send()
        .await
        .expect("sent");
    let granted = aicloud(
        &gate.app.db,
        &["user", "grant", ADMIN_EMAIL, "token_factory.admin"],
    );
    let tenant_role = aicloud(
        &gate.app.db,
        &["user", "grant", ADMIN_EMAIL, "token_factory.consumer"],
    );
    // The analytics writer flushes every half second, in order: once the last request
    // (the 502) is stored, so is every one before it, with the roll-ups they add to.
    let stored = "SELECT count(*)::text AS n FROM token_factory.requests WHERE status = 502";
    for _ in 0..250 {
        if gate.scalar(stored) != "0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let home = browser
        .get(gate.app.url("/token-factory?org=acme"))
        .send()
        .await
        .expect("sent");
    let chart = browser
        .get(gate.app.url("/token-factory/acme/usage.svg"))
        .send()
        .await
        .expect("sent");
    let models = browser
        .get(gate.app.url("/token-factory/models"))
        .send()
        .await
        .expect("sent");
    let errors = browser
        .get(gate.app.url("/token-factory/errors"))
        .send()
        .await
        .expect("sent");

    assert_eq!(refused.status(), 403, "the catalog is for operators");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(
        !tenant_role.status.success(),
        "a tenant-bindable product role is not a platform role"
    );
    assert_eq!(home.status(), 200);
    let home = home.text().await.expect("html");
    let prefix = gate.key.split('_').nth(1).expect("prefix");
    for text in [
        prefix,
        "/v1/chat/completions",
        "id=\"usage-chart\"",
        "<td>mock</td>",
    ] {
        assert!(home.contains(text), "the developer page shows {text}");
    }
    assert_eq!(chart.headers()["content-type"], "image/svg+xml");
    assert!(chart.text().await.expect("svg").contains("mock"));
    let models = models.text().await.expect("html");
    for text in ["demo-echo", "model-mock", "primary", "healthy"] {
        assert!(models.contains(text), "the models page shows {text}");
    }
    let errors = errors.text().await.expect("html");
    for text in ["model_not_found", "502", "mock/primary"] {
        assert!(errors.contains(text), "the errors page shows {text}");
    }
}
