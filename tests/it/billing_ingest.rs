//! Usage capture: exactly once under concurrent retries, rated at the price in effect when
//! it happened, rejected with nothing written when the registry does not know it.

use aicloud::platform::billing::{Outcome, UsageEvent};
use time::Duration;

use crate::billing_support::{Billed, INPUT, REQUESTS, console, wait_posted};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_callers_ingesting_or_capturing_the_same_thousand_events_charge_each_once() {
    let b = Billed::start().await;
    b.price(INPUT, "0.000015").await;
    b.top_up(100_000).await;
    let events: Vec<UsageEvent> = (0..1000)
        .map(|i| b.event(&format!("req-{i}"), INPUT, 1000, "demo"))
        .collect();
    let mut callers = Vec::new();
    for caller in 0..16 {
        let (metering, mut mine) = (b.platform.metering.clone(), events.clone());
        // Each caller sends everything, in its own order and batch size.
        mine.rotate_left(caller * 61);
        callers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for batch in mine.chunks(100 + caller * 7) {
                // Half post in the capture's transaction, half leave it to the poster.
                let results = match caller % 2 {
                    0 => metering.ingest(&console(), batch.to_vec()).await,
                    _ => metering.capture(&console(), batch.to_vec()).await,
                }
                .expect("ingest");
                outcomes.extend(results.into_iter().map(|r| r.outcome));
            }
            outcomes
        }));
    }
    let mut accepted = 0;
    let mut duplicates = 0;
    for caller in callers {
        for outcome in caller.await.expect("caller") {
            match outcome {
                Outcome::Accepted => accepted += 1,
                Outcome::Duplicate => duplicates += 1,
                Outcome::Rejected => panic!("nothing here is invalid"),
            }
        }
    }
    assert_eq!((accepted, duplicates), (1000, 15_000));
    wait_posted(&b.db).await;
    assert_eq!(
        b.scalar("SELECT count(*)::text AS n FROM billing.usage_events"),
        "1000"
    );
    assert_eq!(
        b.scalar("SELECT count(*)::text AS n FROM billing.ratings"),
        "1000"
    );
    assert_eq!(b.unbalanced(), "0");
    // 1,000 events x 1,000 tokens x 0.000015 cents = 15 cents, once.
    let balance = b.balance().await;
    assert_eq!(balance.prepaid_minor.to_string(), "99985");
    let revenue = b.scalar(
        "SELECT sum(p.amount_minor)::text AS n FROM billing.postings p \
         JOIN billing.accounts a ON a.id = p.account_id WHERE a.kind = 'revenue'",
    );
    assert_eq!(
        revenue
            .parse::<rust_decimal::Decimal>()
            .expect("decimal")
            .normalize()
            .to_string(),
        "15"
    );
}

#[tokio::test]
async fn unknown_units_products_resources_and_places_are_rejected_with_nothing_written() {
    let b = Billed::start().await;
    b.price(INPUT, "1").await;
    let mut unknown_unit = b.event("a", "token_factory.tokens_of_joy", 1, "demo");
    unknown_unit.unit = "token_factory.tokens_of_joy".into();
    let mut other_product = b.event("b", INPUT, 1, "demo");
    other_product.product = "vector_store".into();
    let mut unknown_resource = b.event("c", INPUT, 1, "demo");
    unknown_resource.resource_type = "token_factory.gpu".into();
    let mut elsewhere = b.event("d", INPUT, 1, "demo");
    elsewhere.project_id = uuid::Uuid::now_v7();
    let mut too_fine = b.event("e", INPUT, 1, "demo");
    too_fine.quantity = "0.0000001".parse().expect("decimal");
    let mut control = b.event("f\u{7}", INPUT, 1, "demo");
    control.event_id = "f\u{7}".into();
    let mut future = b.event("g", INPUT, 1, "demo");
    future.occurred_at += Duration::hours(1);
    let good = b.event("ok", INPUT, 1, "demo");
    let batch = vec![
        unknown_unit,
        other_product,
        unknown_resource,
        elsewhere,
        too_fine,
        control,
        future,
        good,
    ];
    let results = b.ingest(batch).await;
    let reasons: Vec<String> = results
        .iter()
        .map(|r| r.reason.clone().unwrap_or_default())
        .collect();
    let outcomes: Vec<Outcome> = results.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes[..7], [Outcome::Rejected; 7], "{reasons:?}");
    assert_eq!(outcomes[7], Outcome::Accepted);
    for (reason, says) in reasons.iter().zip([
        "not an active usage_unit",
        "not declared by product `vector_store`",
        "not an active resource_type",
        "no project",
        "decimal places",
        "control character",
        "future",
    ]) {
        assert!(reason.contains(says), "{reason:?} should say {says:?}");
    }
    assert_eq!(
        b.scalar("SELECT string_agg(event_id, ',') AS n FROM billing.usage_events"),
        "ok"
    );
}

#[tokio::test]
async fn an_event_at_a_prices_first_instant_gets_that_price_and_one_just_before_the_old_one() {
    let b = Billed::start().await;
    b.price(INPUT, "1").await;
    let from = time::OffsetDateTime::now_utc() + Duration::minutes(2);
    let from = from.replace_nanosecond(0).expect("whole second");
    b.price_from(INPUT, "2", Some(from)).await;
    let mut before = b.event("before", INPUT, 10, "demo");
    before.occurred_at = from - Duration::microseconds(1);
    let mut at = b.event("at", INPUT, 10, "demo");
    at.occurred_at = from;
    b.ingest(vec![before, at]).await;
    let rated = b.scalar(
        "SELECT string_agg(u.event_id || ':v' || r.price_version || ':' || r.amount_minor::numeric(10,0), ',' ORDER BY u.event_id) AS n \
         FROM billing.usage_events u JOIN billing.ratings r ON r.usage_id = u.id",
    );
    assert_eq!(rated, "at:v2:20,before:v1:10");
}

#[tokio::test]
async fn usage_no_price_covers_is_accepted_unrated_listed_and_charges_nothing() {
    let b = Billed::start().await;
    b.top_up(500).await;
    let results = b.ingest(vec![b.event("r1", REQUESTS, 1, "demo")]).await;
    assert_eq!(results[0].outcome, Outcome::Accepted);
    assert_eq!(b.unrated_ids().await, ["r1"]);
    let balance = b.balance().await;
    assert_eq!(balance.prepaid_minor.to_string(), "500");
    let preview = b
        .platform
        .metering
        .preview(&console(), vec![b.event("r2", REQUESTS, 1, "demo")])
        .await
        .expect("preview");
    assert!(preview[0].amount_minor.is_none());
    assert!(
        preview[0]
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("unrated"))
    );
}

#[tokio::test]
async fn the_quota_feed_sums_usage_per_project_actor_and_unit_and_announces_each_group() {
    let b = Billed::start().await;
    let mut other_key = b.event("k2-1", INPUT, 5, "demo");
    other_key.actor.id = "tf_other".into();
    b.ingest(vec![
        b.event("k1-1", INPUT, 10, "demo"),
        b.event("k1-2", INPUT, 15, "big"),
        other_key,
    ])
    .await;
    b.ingest(vec![
        b.event("k1-3", REQUESTS, 1, "demo"),
        b.event("k1-1", INPUT, 10, "demo"),
    ])
    .await;
    let seen: Vec<(String, String, String)> = b
        .totals()
        .await
        .iter()
        .map(|t| (t.actor_id.clone(), t.unit.clone(), t.quantity.to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            ("tf_other".to_owned(), INPUT.to_owned(), "5".to_owned()),
            ("tf_test".to_owned(), INPUT.to_owned(), "25".to_owned()),
            ("tf_test".to_owned(), REQUESTS.to_owned(), "1".to_owned()),
        ]
    );
    // One announcement per group; the duplicate adds nothing.
    let added = b.scalar(
        "SELECT string_agg(t->>'actor_id' || ':' || (t->>'quantity_added'), ',' ORDER BY o.seq, t->>'actor_id', t->>'unit') AS n \
         FROM events.outbox o, jsonb_array_elements(o.payload->'totals') t WHERE o.event_type = 'platform.billing.usage_recorded'",
    );
    assert_eq!(added, "tf_other:5,tf_test:25,tf_test:1");
}

#[tokio::test]
async fn usage_that_arrived_unrated_is_rated_once_a_backdated_price_covers_it() {
    let b = Billed::start().await;
    b.top_up(1000).await;
    let mut late = b.event("late", REQUESTS, 4, "demo");
    late.occurred_at -= Duration::days(3);
    b.ingest(vec![late]).await;
    assert_eq!(b.rate_unrated().await, 0, "no price yet");
    b.price_from(
        REQUESTS,
        "5",
        Some(time::OffsetDateTime::now_utc() - Duration::days(7)),
    )
    .await;
    assert_eq!(b.rate_unrated().await, 1);
    assert_eq!(b.rate_unrated().await, 0);
    assert!(
        b.platform
            .metering
            .unrated(&console(), None, 10)
            .await
            .expect("unrated")
            .is_empty()
    );
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "980");
    b.assert_reconciles("rating late usage").await;
}
