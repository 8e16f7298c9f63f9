//! The billing pages: a tenant reads its own organization's funds, chart and statements
//! and nothing of another's; an operator browses the ledger and moves money with a form.

use crate::helpers::csrf_in;
use crate::iam_tenants::{PASSWORD, tenants};

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let res = client.get(url).send().await.expect("sent");
    (res.status().as_u16(), res.text().await.expect("body"))
}

#[tokio::test]
async fn a_tenant_reads_its_own_billing_and_nothing_of_anothers() {
    let t = tenants().await;
    let alice = t.app.sign_in("alice@a.example", PASSWORD).await;
    let (status, html) = page(&alice, t.app.url("/billing")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"href="/billing/org-a""#) && !html.contains("org-b"),
        "only org-a is listed"
    );
    assert!(
        !html.contains(r#"id="journal""#),
        "the ledger is for operators"
    );
    let (status, html) = page(&alice, t.app.url("/billing/org-a")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="available""#) && html.contains("usage.svg"));
    assert!(!html.contains("topup-form"), "tenants move no money");
    let chart = alice
        .get(t.app.url("/billing/org-a/usage.svg"))
        .send()
        .await
        .expect("chart");
    assert_eq!(chart.status(), 200);
    assert_eq!(chart.headers()["content-type"], "image/svg+xml");
    let month = aicloud::platform::billing::Period::of(time::OffsetDateTime::now_utc());
    let csv = alice
        .get(t.app.url(&format!("/billing/org-a/statements/{month}.csv")))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), 200);
    assert!(
        csv.text()
            .await
            .expect("csv")
            .starts_with("line,product,unit")
    );
    for path in ["/billing/org-b", "/billing/org-b/usage.svg"] {
        let (status, _) = page(&alice, t.app.url(path)).await;
        assert_eq!(status, 404, "{path} is another tenant's");
    }
    let forged = alice
        .post(t.app.url("/billing/org-a/topups"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("amount_minor", "500"),
            ("reason", "self-service"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 403, "a tenant cannot top itself up");
}

#[tokio::test]
async fn an_operator_tops_up_with_the_form_and_sees_it_in_the_ledger() {
    let t = tenants().await;
    let admin = t.app.admin().await;
    let (status, html) = page(&admin, t.app.url("/billing/org-a")).await;
    assert_eq!(status, 200);
    assert!(html.contains("topup-form"));
    let done = admin
        .post(t.app.url("/billing/org-a/topups"))
        .form(&[
            ("csrf", csrf_in(&html).as_str()),
            ("amount_minor", "1250"),
            ("reason", "invoice 42 paid"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(done.status(), 303);
    let (_, html) = page(&admin, t.app.url("/billing/org-a")).await;
    assert!(
        html.contains(r#"<strong id="available">1250</strong>"#),
        "{html}"
    );
    let (status, html) = page(&admin, t.app.url("/billing?org=org-a")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="journal""#) && html.contains("invoice 42 paid"));
    let (_, html) = page(&admin, t.app.url("/billing?org=org-a&kind=usage")).await;
    assert!(!html.contains("invoice 42 paid"), "a top-up is not usage");
    let (status, _) = page(&admin, t.app.url("/billing?kind=bogus")).await;
    assert_eq!(status, 422);
    let missing_token = admin
        .post(t.app.url("/billing/org-a/topups"))
        .form(&[("amount_minor", "1"), ("reason", "no token")])
        .send()
        .await
        .expect("sent");
    assert!(missing_token.status().is_client_error());
}
