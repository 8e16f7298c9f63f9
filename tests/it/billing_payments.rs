//! The card processor's webhook over HTTP, signed in the test the way Stripe signs: a
//! completed payment credits its organization once (AT-051), a redelivery, also eight at
//! once, credits nothing more (AT-052), and a bad or stale signature is 400 with nothing
//! written (AT-053).

use diesel::RunQueryDsl;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::billing_support::scalar_in;
use crate::helpers::TestApp;

/// The endpoint's signing secret in these tests.
pub const SECRET: &str = "whsec_test_payments_0123456789";
const WEBHOOK: &str = "/api/v1/billing/webhooks/stripe";

/// A server whose Stripe webhook is configured, with the platform packet onboarded (its
/// event subjects are what the outbox accepts).
async fn app() -> TestApp {
    let app = TestApp::spawn_with(&[("AICLOUD__BILLING__STRIPE_WEBHOOK_SECRET", SECRET)]).await;
    app.admin_key().await;
    app
}

/// The `Stripe-Signature` header for `body` signed with `secret` at `t`, computed here
/// with the HMAC crate, independently of the server's code.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A `checkout.session.completed` event as Stripe sends it (trimmed), paid.
pub fn completed(event_id: &str, org: &str, amount: i64, currency: &str) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": now(),
        "livemode": false,
        "type": "checkout.session.completed",
        "data": { "object": {
            "id": "cs_test_a1",
            "object": "checkout.session",
            "amount_total": amount,
            "currency": currency,
            "payment_status": "paid",
            "status": "complete",
            "metadata": { "organization_id": org, "note": "line one\nline two" }
        } }
    })
    .to_string()
}

/// POSTs `body` to the webhook with `header` as its `Stripe-Signature` (none when `None`).
pub async fn deliver(app: &TestApp, body: &str, header: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(WEBHOOK))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_owned());
    if let Some(header) = header {
        req = req.header("stripe-signature", header);
    }
    req.send().await.expect("sent")
}

/// `body` delivered as Stripe would, signed now with the right secret.
async fn signed(app: &TestApp, body: &str) -> reqwest::Response {
    deliver(app, body, Some(&signature(SECRET, now(), body))).await
}

async fn org_id(app: &TestApp) -> String {
    let org = app.get_json("/api/v1/iam/orgs/platform-ops").await;
    org["id"].as_str().expect("an id").to_owned()
}

async fn prepaid(app: &TestApp) -> String {
    let balance = app
        .get_json("/api/v1/billing/orgs/platform-ops/balance")
        .await;
    balance["prepaid_minor"]
        .as_str()
        .expect("prepaid")
        .to_owned()
}

/// A count from SQL (`SELECT count(*) AS n ...`).
fn count(app: &TestApp, sql: &str) -> i64 {
    let sql = sql.replacen("count(*) AS n", "count(*)::text AS n", 1);
    scalar_in(&app.db, &sql).parse().expect("a count")
}

/// The body of a 200 answer.
async fn receipt(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.expect("receipt")
}

fn payments(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) AS n FROM billing.payments")
}

fn journal(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) AS n FROM billing.journal")
}

#[tokio::test]
async fn at_051_a_completed_payment_credits_the_organizations_balance() {
    let app = app().await;
    let org = org_id(&app).await;

    let res = signed(&app, &completed("evt_051", &org, 2500, "usd")).await;

    let receipt = receipt(res).await;
    assert_eq!(receipt["status"], "credited", "{receipt}");
    assert_eq!(receipt["duplicate"], false);
    assert_eq!(prepaid(&app).await, "2500");
    let entries = app
        .get_json("/api/v1/billing/orgs/platform-ops/journal")
        .await;
    let entry = &entries["items"][0];
    assert_eq!(entry["kind"], "payment");
    assert_eq!(entry["source_type"], "payment");
    assert_eq!(entry["source_id"], "evt_051");
    assert_eq!(entry["id"], receipt["journal_id"]);
    let legs: Vec<(&str, &str)> = entry["postings"]
        .as_array()
        .expect("postings")
        .iter()
        .map(|p| {
            (
                p["account"].as_str().expect("account"),
                p["amount_minor"].as_str().expect("amount"),
            )
        })
        .collect();
    assert!(legs.contains(&("prepaid", "2500")), "{legs:?}");
    assert!(legs.contains(&("payments_clearing", "-2500")), "{legs:?}");
    let announced = count(
        &app,
        "SELECT count(*) AS n FROM events.outbox WHERE event_type = 'platform.billing.payment_credited'",
    );
    assert_eq!(announced, 1);
    let credited = count(
        &app,
        "SELECT count(*) AS n FROM billing.payments WHERE status = 'credited' \
         AND provider_event_id = 'evt_051' AND amount_minor = 2500 AND currency = 'USD'",
    );
    assert_eq!(credited, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_052_a_redelivered_event_credits_once_also_eight_at_once() {
    let app = app().await;
    let org = org_id(&app).await;
    let first = completed("evt_052", &org, 1000, "usd");
    assert_eq!(signed(&app, &first).await.status(), 200);

    let again = signed(&app, &first).await;
    let concurrent = completed("evt_052_b", &org, 700, "usd");
    let header = signature(SECRET, now(), &concurrent);
    let deliveries = (0..8).map(|_| deliver(&app, &concurrent, Some(&header)));
    let answers = futures_util::future::join_all(deliveries).await;

    let replay = receipt(again).await;
    assert_eq!(
        replay["status"], "credited",
        "a replay answers what was recorded"
    );
    assert_eq!(replay["duplicate"], true);
    let mut fresh = 0;
    for res in answers {
        let answer = receipt(res).await;
        assert_eq!(answer["status"], "credited", "{answer}");
        fresh += usize::from(answer["duplicate"] == false);
    }
    assert_eq!(fresh, 1, "exactly one of the eight credited");
    assert_eq!(prepaid(&app).await, "1700");
    assert_eq!(payments(&app), 2);
    let credits = count(
        &app,
        "SELECT count(*) AS n FROM billing.journal WHERE kind = 'payment'",
    );
    assert_eq!(credits, 2);
}

#[tokio::test]
async fn at_053_a_bad_signature_is_refused_with_400_and_writes_nothing() {
    let app = app().await;
    let org = org_id(&app).await;
    let body = completed("evt_053", &org, 2500, "usd");
    let t = now();
    let tampered = body.replace("2500", "250000");
    let good = signature(SECRET, t, &body);
    let cases = [
        ("a tampered body", tampered.as_str(), Some(good.clone())),
        (
            "another secret",
            &body,
            Some(signature("whsec_other", t, &body)),
        ),
        ("no header", &body, None),
        (
            "a header without its timestamp",
            &body,
            good.split_once(',').map(|(_, v1)| v1.to_owned()),
        ),
        (
            "a signature of another time",
            &body,
            Some(good.replacen(&t.to_string(), &(t - 1).to_string(), 1)),
        ),
    ];
    let (payments_before, journal_before) = (payments(&app), journal(&app));

    for (what, body, header) in cases {
        let res = deliver(&app, body, header.as_deref()).await;

        assert_eq!(res.status(), 400, "{what}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
        let text = res.text().await.expect("problem");
        assert!(!text.contains(SECRET), "{what}: {text}");
    }
    assert_eq!(payments(&app), payments_before);
    assert_eq!(journal(&app), journal_before);
    assert_eq!(prepaid(&app).await, "0");
}

#[tokio::test]
async fn a_stale_timestamp_is_refused_even_with_a_good_signature() {
    let app = app().await;
    let org = org_id(&app).await;
    let body = completed("evt_stale", &org, 2500, "usd");
    // The default tolerance is 300 s.
    let stale = signature(SECRET, now() - 301, &body);

    let res = deliver(&app, &body, Some(&stale)).await;

    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("tolerance"),
        "{problem}"
    );
    assert_eq!(payments(&app), 0);
    assert_eq!(prepaid(&app).await, "0");
}

#[tokio::test]
async fn a_payment_in_another_currency_is_recorded_unmatched_and_credits_nothing() {
    let app = app().await;
    let org = org_id(&app).await;

    let res = signed(&app, &completed("evt_eur", &org, 2500, "eur")).await;

    let receipt = receipt(res).await;
    assert_eq!(receipt["status"], "unmatched");
    assert_eq!(
        receipt["reason"],
        "currency EUR is not the billing currency USD"
    );
    let unmatched = count(
        &app,
        "SELECT count(*) AS n FROM billing.payments WHERE status = 'unmatched' \
         AND provider_event_id = 'evt_eur' AND journal_id IS NULL AND reason IS NOT NULL",
    );
    assert_eq!(unmatched, 1);
    assert_eq!(journal(&app), 0);
    assert_eq!(prepaid(&app).await, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_organization_is_unmatched_and_other_events_are_ignored() {
    let app = app().await;
    let stranger = "0190a000-0000-7000-8000-00000000dead";
    let refund = json!({ "id": "evt_refund", "type": "charge.refunded", "data": { "object": {} } })
        .to_string();

    let unknown = signed(&app, &completed("evt_nobody", stranger, 2500, "usd")).await;
    // Nothing to lock for what is not credited: the unique event id alone keeps it once.
    let header = signature(SECRET, now(), &refund);
    let deliveries = (0..4).map(|_| deliver(&app, &refund, Some(&header)));
    let answers = futures_util::future::join_all(deliveries).await;

    let unknown = receipt(unknown).await;
    assert_eq!(unknown["status"], "unmatched");
    assert_eq!(unknown["reason"], format!("no organization {stranger}"));
    let mut fresh = 0;
    for res in answers {
        let ignored = receipt(res).await;
        assert_eq!(ignored["status"], "ignored", "{ignored}");
        fresh += usize::from(ignored["duplicate"] == false);
    }
    assert_eq!(fresh, 1, "one of the four recorded it");
    assert_eq!(payments(&app), 2);
    assert_eq!(journal(&app), 0);
}

#[tokio::test]
async fn without_a_signing_secret_the_webhook_answers_404_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let body = completed("evt_off", "0190a000-0000-7000-8000-000000000001", 1, "usd");

    let res = deliver(&app, &body, Some(&signature("", now(), &body))).await;

    assert_eq!(res.status(), 404);
    assert_eq!(payments(&app), 0);
}

#[tokio::test]
async fn reconciliation_holds_after_payments_and_names_a_credit_no_payment_backs() {
    let app = app().await;
    let org = org_id(&app).await;
    receipt(signed(&app, &completed("evt_rec", &org, 900, "usd")).await).await;
    let clean = app.get_json("/api/v1/billing/reconciliation").await;
    assert_eq!(clean["violations"], json!([]), "{clean}");

    // Behind billing's back, as the owner: a balanced payment credit with no payment row.
    diesel::sql_query(
        "WITH j AS (INSERT INTO billing.journal (id, organization_id, kind, source_type, source_id, actor, created_at) \
         VALUES ('00000000-0000-7000-8000-0000000000f0', NULL, 'payment', 'payment', 'evt_forged', 'intruder', now()) RETURNING id) \
         INSERT INTO billing.postings (journal_id, account_id, currency, amount_minor) \
         SELECT j.id, a.id, a.currency, CASE a.kind WHEN 'prepaid' THEN 5 ELSE -5 END \
         FROM j, billing.accounts a WHERE a.kind IN ('prepaid', 'payments_clearing')",
    )
    .execute(&mut app.db.connect())
    .expect("forged");
    let broken = app.get_json("/api/v1/billing/reconciliation").await;

    let checks: Vec<&str> = broken["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["check"].as_str().expect("check"))
        .collect();
    assert!(
        checks.contains(&"payment_credits_backed_by_payments"),
        "{broken}"
    );
}
