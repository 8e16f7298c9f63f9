//! Refunds never exceed what was charged, even when they race; reversals happen once;
//! expired promotional value is posted back exactly once.

use aicloud::platform::billing::{BillingError, Credit, NewGrant, Period, Refund, RefundOf};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::billing_support::{Billed, REQUESTS, console};

fn refund(of: RefundOf, amount: Option<i64>) -> Refund {
    Refund {
        of,
        amount_minor: amount.map(Decimal::from),
        reason: "service credit".into(),
    }
}

/// Charges one request at 100 cents and returns billing's id for it.
async fn charged_event(b: &Billed) -> Uuid {
    b.price(REQUESTS, "100").await;
    b.top_up(1000).await;
    b.ingest(vec![b.event("charged", REQUESTS, 1, "demo")])
        .await;
    let id = b.scalar("SELECT id::text AS n FROM billing.usage_events WHERE event_id = 'charged'");
    id.parse().expect("uuid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_refunds_that_together_exceed_the_charge_leave_one_refused() {
    let b = Billed::start().await;
    let usage = charged_event(&b).await;
    let attempts: Vec<_> = (0..2)
        .map(|_| {
            let adjustments = b.platform.adjustments.clone();
            tokio::spawn(async move {
                let of = RefundOf::UsageEvent(usage);
                adjustments
                    .refund(&console(), "acme", refund(of, Some(60)))
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.expect("task"));
    }
    let refused: Vec<_> = outcomes.iter().filter(|o| o.is_err()).collect();
    assert_eq!(refused.len(), 1, "{outcomes:?}");
    assert!(matches!(refused[0], Err(BillingError::Conflict(m)) if m.contains("at most 40")));
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "960");
    assert_eq!(b.unbalanced(), "0");
}

#[tokio::test]
async fn a_months_refund_counts_the_refunds_of_its_events() {
    let b = Billed::start().await;
    let usage = charged_event(&b).await;
    let adjustments = &b.platform.adjustments;
    adjustments
        .refund(
            &console(),
            "acme",
            refund(RefundOf::UsageEvent(usage), Some(30)),
        )
        .await
        .expect("partial refund");
    let month = Period::of(time::OffsetDateTime::now_utc());
    let rest = adjustments
        .refund(&console(), "acme", refund(RefundOf::Period(month), None))
        .await
        .expect("the rest of the month");
    assert_eq!(rest.kind, "refund");
    let again = adjustments
        .refund(
            &console(),
            "acme",
            refund(RefundOf::UsageEvent(usage), Some(1)),
        )
        .await;
    assert!(matches!(again, Err(BillingError::Conflict(_))), "{again:?}");
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "1000");
}

#[tokio::test]
async fn a_top_up_is_refunded_up_to_what_is_left_of_it_and_reversed_once() {
    let b = Billed::start().await;
    b.top_up(500).await;
    let top_up = b.scalar("SELECT id::text AS n FROM billing.journal WHERE kind = 'topup'");
    let top_up: Uuid = top_up.parse().expect("uuid");
    let adjustments = &b.platform.adjustments;
    adjustments
        .refund(
            &console(),
            "acme",
            refund(RefundOf::Payment(top_up), Some(200)),
        )
        .await
        .expect("refund of 200");
    let too_much = adjustments
        .refund(
            &console(),
            "acme",
            refund(RefundOf::Payment(top_up), Some(301)),
        )
        .await;
    assert!(
        matches!(too_much, Err(BillingError::Conflict(_))),
        "{too_much:?}"
    );
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "300");
    let unknown = adjustments
        .refund(
            &console(),
            "acme",
            refund(RefundOf::Payment(Uuid::now_v7()), None),
        )
        .await;
    assert!(
        matches!(unknown, Err(BillingError::NotFound(_))),
        "{unknown:?}"
    );

    b.top_up(50).await;
    let second = b.scalar(
        "SELECT id::text AS n FROM billing.journal WHERE kind = 'topup' ORDER BY seq DESC LIMIT 1",
    );
    let second: Uuid = second.parse().expect("uuid");
    let reversal = adjustments
        .reverse(&console(), second, "typed 50 for 5")
        .await
        .expect("reversed");
    assert_eq!(reversal.corrects, Some(second));
    let twice = adjustments.reverse(&console(), second, "again").await;
    assert!(matches!(twice, Err(BillingError::Conflict(_))), "{twice:?}");
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "300");
}

#[tokio::test]
async fn expired_promotional_value_stops_counting_and_is_posted_back_once() {
    let b = Billed::start().await;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(1500);
    let grant = NewGrant {
        credit: Credit {
            amount_minor: 700,
            reason: "trial".into(),
        },
        priority: 0,
        expires_at: Some(expires),
    };
    b.platform
        .ledger
        .grant(&console(), "acme", grant)
        .await
        .expect("grant");
    assert_eq!(b.balance().await.available_minor.to_string(), "700");
    assert_eq!(
        b.platform.adjustments.post_expiries().await.expect("run"),
        0
    );
    // Wait for the clock to pass the expiry (not for anything the server does).
    while time::OffsetDateTime::now_utc() <= expires {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(b.balance().await.available_minor.to_string(), "0");
    assert_eq!(
        b.platform.adjustments.post_expiries().await.expect("run"),
        1
    );
    assert_eq!(
        b.platform.adjustments.post_expiries().await.expect("rerun"),
        0
    );
    let expiry = b.scalar(
        "SELECT string_agg(a.kind || ':' || p.amount_minor::numeric(10,0), ',' ORDER BY a.kind) AS n \
         FROM billing.journal j JOIN billing.postings p ON p.journal_id = j.id \
         JOIN billing.accounts a ON a.id = p.account_id WHERE j.kind = 'expiry'",
    );
    assert_eq!(expiry, "grants:700,promotional:-700");
    assert_eq!(b.unbalanced(), "0");
}
