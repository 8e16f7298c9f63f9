//! Capture now, post behind (`Metering::capture`): usage answered accepted is rated and
//! posted by billing's poster, once, and counts against the spend guard from the moment it
//! is captured, never twice.

use aicloud::platform::billing::Outcome;

use crate::billing_support::{Billed, INPUT, REQUESTS, console, requests, wait_posted};

#[tokio::test]
async fn captured_usage_counts_against_the_guard_at_once_and_is_posted_once() {
    let b = Billed::start().await;
    b.price(REQUESTS, "10").await;
    b.top_up(100).await;
    let (org, project) = b.places();
    let events = vec![b.event("c1", REQUESTS, 7, "demo")];

    let captured = b
        .platform
        .metering
        .capture(&console(), events.clone())
        .await;

    assert_eq!(captured.expect("capture")[0].outcome, Outcome::Accepted);
    // Posted or not yet, the 70 captured is spent: 30 is left, 40 is not.
    assert!(
        b.platform
            .spend
            .reserve(org, project, &requests(4))
            .is_err()
    );
    wait_posted(&b.db).await;
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "30");
    // Counted once: by the ledger now, not also still by the guard.
    let three = b.platform.spend.reserve(org, project, &requests(3));
    assert!(three.is_ok(), "30 covers 3 requests: {three:?}");
    drop(three);
    assert!(
        b.platform
            .spend
            .reserve(org, project, &requests(4))
            .is_err()
    );

    let again = b.platform.metering.capture(&console(), events).await;
    assert_eq!(again.expect("capture")[0].outcome, Outcome::Duplicate);
    // The duplicate's estimate, counted while its capture was written, is not kept: it
    // has no capture row, and no posting would ever release it.
    let after_duplicate = b.platform.spend.reserve(org, project, &requests(3));
    assert!(
        after_duplicate.is_ok(),
        "still 30 left: {after_duplicate:?}"
    );
    drop(after_duplicate);
    wait_posted(&b.db).await;
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "30");
    assert_eq!(
        b.scalar("SELECT count(*)::text AS n FROM billing.ratings"),
        "1"
    );
    b.assert_reconciles("a capture posted behind").await;
}

#[tokio::test]
async fn usage_captured_with_no_price_is_listed_unrated_once_posted_and_rates_late() {
    let b = Billed::start().await;
    b.top_up(100).await;
    let (org, project) = b.places();
    let captured = b
        .platform
        .metering
        .capture(&console(), vec![b.event("free", REQUESTS, 2, "demo")])
        .await;
    assert_eq!(captured.expect("capture")[0].outcome, Outcome::Accepted);
    wait_posted(&b.db).await;

    let unrated = b
        .platform
        .metering
        .unrated(&console(), None, 10)
        .await
        .expect("unrated");
    assert_eq!(
        unrated
            .iter()
            .map(|u| u.event_id.as_str())
            .collect::<Vec<_>>(),
        ["free"]
    );
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    b.price_from(REQUESTS, "10", Some(past)).await;
    assert_eq!(b.rate_unrated().await, 1);
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "80");
    // 80 left: the late rating counts once.
    let eight = b.platform.spend.reserve(org, project, &requests(8));
    assert!(eight.is_ok(), "80 covers 8 requests: {eight:?}");
    drop(eight);
    assert!(
        b.platform
            .spend
            .reserve(org, project, &requests(9))
            .is_err()
    );
    b.assert_reconciles("a capture rated late").await;
}

#[tokio::test]
async fn captured_usage_is_in_the_quota_feed_when_captured_and_announced_when_posted() {
    let b = Billed::start().await;
    let caller = console();
    let capture = |events| b.platform.metering.capture(&caller, events);
    capture(vec![b.event("q1", INPUT, 10, "demo")])
        .await
        .expect("capture");
    capture(vec![
        b.event("q2", INPUT, 15, "big"),
        b.event("q1", INPUT, 10, "demo"),
    ])
    .await
    .expect("capture");

    // In the totals as soon as the capture answered, whether posted yet or not.
    let totals = b.totals().await;
    let quantities: Vec<String> = totals.iter().map(|t| t.quantity.to_string()).collect();
    assert_eq!(quantities, ["25"]);
    wait_posted(&b.db).await;
    let announced = b.scalar(
        "SELECT sum((t->>'quantity_added')::numeric)::text AS n FROM events.outbox o, \
         jsonb_array_elements(o.payload->'totals') t WHERE o.event_type = 'platform.billing.usage_recorded'",
    );
    assert_eq!(announced, "25");
}

#[tokio::test]
async fn posted_captures_are_pruned_an_hour_after_posting_and_their_usage_stays() {
    let b = Billed::start().await;
    b.price(REQUESTS, "10").await;
    b.top_up(100).await;
    let events = vec![b.event("recent", REQUESTS, 1, "demo")];
    let captured = b.platform.metering.capture(&console(), events).await;
    assert_eq!(captured.expect("capture")[0].outcome, Outcome::Accepted);
    wait_posted(&b.db).await;
    // A capture posted 61 minutes ago (its UUIDv7 key made then too).
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(61 * 60);
    let since = then
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let stamp = uuid::Timestamp::from_unix(uuid::NoContext, since.as_secs(), 0);
    let aged = uuid::Uuid::new_v7(stamp);
    let insert = format!(
        "INSERT INTO billing.usage_captures (journal_id, batch_id, organization_id, captured_at, posted_at) \
         VALUES ('{aged}', gen_random_uuid(), gen_random_uuid(), now() - interval '61 minutes', \
         now() - interval '61 minutes')"
    );
    diesel::RunQueryDsl::execute(diesel::sql_query(insert), &mut b.db.connect()).expect("aged");

    // A process prunes when it starts, then every minute.
    let _next = crate::helpers::platform_for(&b.db, &[]).await;

    let left = "SELECT count(*)::text AS n FROM billing.usage_captures";
    for _ in 0..100 {
        if b.scalar(left) == "1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(b.scalar(left), "1", "the recent capture stays");
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "90");
    b.assert_reconciles("pruning posted captures").await;
}

#[tokio::test]
async fn a_capture_that_cannot_be_posted_is_set_aside_and_holds_up_no_other() {
    let b = Billed::start().await;
    b.price(REQUESTS, "10").await;
    b.top_up(100).await;
    b.ingest(vec![b.event("x", REQUESTS, 1, "demo")]).await;
    // A waiting capture whose journal id is taken already: posting it always fails.
    let poison = "WITH x AS (SELECT * FROM billing.usage_events WHERE event_id = 'x'), \
           b AS (SELECT gen_random_uuid() AS batch), \
           u AS (INSERT INTO billing.usage_events (id, product, event_id, unit, quantity, \
             organization_id, department_id, project_id, actor_kind, actor_id, resource_type, \
             resource_id, usage_source, occurred_at, received_at, correlation_id, attributes, batch_id) \
             SELECT gen_random_uuid(), product, 'poison', unit, quantity, organization_id, \
             department_id, project_id, actor_kind, actor_id, resource_type, resource_id, \
             usage_source, occurred_at, received_at, correlation_id, attributes, b.batch FROM x, b) \
         INSERT INTO billing.usage_captures (journal_id, batch_id, organization_id, captured_at) \
         SELECT j.id, b.batch, x.organization_id, now() - interval '1 second' FROM x, b, billing.journal j \
         WHERE j.kind = 'usage' AND j.source_id = x.batch_id::text";
    diesel::RunQueryDsl::execute(diesel::sql_query(poison), &mut b.db.connect()).expect("poison");

    let captured = b
        .platform
        .metering
        .capture(&console(), vec![b.event("fine", REQUESTS, 2, "demo")])
        .await;
    assert_eq!(captured.expect("capture")[0].outcome, Outcome::Accepted);

    let state = "SELECT string_agg(u.event_id || ':' || (c.posted_at IS NOT NULL) || ':' || c.failures, ',' \
         ORDER BY u.event_id) AS n FROM billing.usage_captures c JOIN billing.usage_events u \
         ON u.batch_id = c.batch_id AND u.organization_id = c.organization_id";
    for _ in 0..200 {
        if b.scalar(state) == "fine:true:0,poison:false:3" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(b.scalar(state), "fine:true:0,poison:false:3");
    // 100 - 10 (x) - 20 (fine); the poison charged nothing.
    assert_eq!(b.balance().await.prepaid_minor.to_string(), "70");
}
