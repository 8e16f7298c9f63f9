//! The outbox and relay: at-least-once delivery with retries, dead letters and replay,
//! fail-closed subjects, and delivery that resumes in a new server process.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aicloud::platform::audit::Actor;
use aicloud::platform::events::{Consumer, Envelope, Message};
use uuid::Uuid;

use crate::helpers::{TestDb, platform_for};

const FAST: &[(&str, &str)] = &[
    ("AICLOUD__EVENTS__RETRY_BASE_MS", "20"),
    ("AICLOUD__EVENTS__RETRY_MAX_MS", "100"),
    ("AICLOUD__EVENTS__POLL_MS", "50"),
    ("AICLOUD__EVENTS__MAX_ATTEMPTS", "3"),
];

/// Fails its first `failures` calls, then records each event it processes.
#[derive(Default)]
struct Flaky {
    failures: usize,
    broken: AtomicBool,
    calls: AtomicUsize,
    processed: Mutex<Vec<Uuid>>,
}

#[async_trait::async_trait]
impl Consumer for Flaky {
    async fn handle(&self, event: &Envelope) -> Result<(), String> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call <= self.failures || self.broken.load(Ordering::SeqCst) {
            return Err(format!("failure on call {call}"));
        }
        let mut processed = self.processed.lock().map_err(|e| e.to_string())?;
        // Idempotent: an event seen again changes nothing.
        if !processed.contains(&event.event_id) {
            processed.push(event.event_id);
        }
        Ok(())
    }
}

impl Flaky {
    fn processed(&self) -> Vec<Uuid> {
        self.processed.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn changed() -> Message {
    Message::new(
        "platform.registry.changed",
        serde_json::json!({ "product": "x" }),
    )
}

#[tokio::test]
async fn a_consumer_that_fails_twice_then_succeeds_processes_the_event_once() {
    let db = TestDb::create();
    let platform = platform_for(&db, FAST).await;
    let consumer = Arc::new(Flaky {
        failures: 2,
        ..Flaky::default()
    });
    platform
        .events
        .subscribe(
            "test.flaky",
            &["platform.registry.changed"],
            consumer.clone(),
        )
        .await
        .expect("subscribed");
    platform.events.start_relay();

    let published = platform.events.publish(changed()).await.expect("published");
    eventually("the event is processed", || {
        !consumer.processed().is_empty()
    })
    .await;

    assert_eq!(consumer.processed(), vec![published.event_id]);
    assert_eq!(consumer.calls.load(Ordering::SeqCst), 3);
    assert!(
        platform
            .events
            .dead_letters(false)
            .await
            .expect("listed")
            .is_empty()
    );
}

#[tokio::test]
async fn a_consumer_that_always_fails_lands_in_the_dead_letters_and_replay_delivers_after_the_fix()
{
    let db = TestDb::create();
    let platform = platform_for(&db, FAST).await;
    let consumer = Arc::new(Flaky::default());
    consumer.broken.store(true, Ordering::SeqCst);
    platform
        .events
        .subscribe("test.broken", &["platform.*.changed"], consumer.clone())
        .await
        .expect("subscribed");
    platform.events.start_relay();

    let published = platform.events.publish(changed()).await.expect("published");
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = platform.events.dead_letters(true).await.expect("listed");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "one dead letter");
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].event.event_id, published.event_id);
    assert!(consumer.processed().is_empty());

    consumer.broken.store(false, Ordering::SeqCst);
    platform
        .events
        .replay(dead[0].id, Actor::system("test"))
        .await
        .expect("replayed");
    eventually("the replayed event is processed", || {
        !consumer.processed().is_empty()
    })
    .await;

    assert_eq!(consumer.processed(), vec![published.event_id]);
    assert!(
        platform
            .events
            .dead_letters(true)
            .await
            .expect("listed")
            .is_empty()
    );
    let again = platform
        .events
        .replay(dead[0].id, Actor::system("test"))
        .await;
    assert!(
        again.is_err(),
        "a replayed dead letter cannot be replayed twice"
    );
    let audited = platform
        .audit
        .query(aicloud::platform::audit::EventFilter {
            action: Some("platform.dead_letter.replayed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit query");
    assert_eq!(audited.events.len(), 1);
    assert_eq!(audited.events[0].target_id, dead[0].id.to_string());
}

#[tokio::test]
async fn events_left_pending_or_failed_by_a_stopped_server_are_delivered_by_the_next() {
    let db = TestDb::create();
    // Slow retries: the failed delivery is still waiting for its retry when the server stops.
    let slow = [
        ("AICLOUD__EVENTS__RETRY_BASE_MS", "400"),
        ("AICLOUD__EVENTS__POLL_MS", "50"),
    ];
    let first = platform_for(&db, &slow).await;
    let failing = Arc::new(Flaky::default());
    failing.broken.store(true, Ordering::SeqCst);
    first
        .events
        .subscribe(
            "test.restart",
            &["platform.registry.changed"],
            failing.clone(),
        )
        .await
        .expect("subscribed");
    first.events.start_relay();
    let failed = first.events.publish(changed()).await.expect("published");
    eventually("the first attempt fails", || {
        failing.calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    // Stopped as a server stops; dropping alone would leave its relay running in this runtime.
    first.finish_background().await;
    drop(first);
    let calls_when_stopped = failing.calls.load(Ordering::SeqCst);
    // Published while no relay runs: the server "died" before delivering.
    let second_platform = platform_for(&db, &slow).await;
    let pending: Vec<Uuid> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(
                second_platform
                    .events
                    .publish(changed())
                    .await
                    .expect("published")
                    .event_id,
            );
        }
        ids
    };

    let consumer = Arc::new(Flaky::default());
    second_platform
        .events
        .subscribe(
            "test.restart",
            &["platform.registry.changed"],
            consumer.clone(),
        )
        .await
        .expect("subscribed");
    second_platform.events.start_relay();
    eventually("every event is delivered", || {
        consumer.processed().len() == 4
    })
    .await;

    let delivered: HashSet<Uuid> = consumer.processed().into_iter().collect();
    assert!(delivered.contains(&failed.event_id));
    assert!(pending.iter().all(|id| delivered.contains(id)));
    assert_eq!(
        failing.calls.load(Ordering::SeqCst),
        calls_when_stopped,
        "a stopped relay delivers nothing more"
    );
}

#[tokio::test]
async fn an_undeclared_subject_is_rejected_and_nothing_is_written() {
    let db = TestDb::create();
    let platform = platform_for(&db, FAST).await;
    let outbox_rows = |db: &TestDb| -> i64 {
        diesel::RunQueryDsl::get_result(
            diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM events.outbox)",
            )),
            &mut db.connect(),
        )
        .expect("count")
    };
    let before = outbox_rows(&db);

    let rejected = platform
        .events
        .publish(Message::new("platform.gossip.heard", serde_json::json!({})))
        .await;
    let bad_pattern = platform
        .events
        .subscribe("test.bad", &["platform.>.x"], Arc::new(Flaky::default()))
        .await;

    assert!(
        rejected
            .expect_err("undeclared")
            .to_string()
            .contains("not an event subject declared")
    );
    assert!(bad_pattern.is_err());
    assert_eq!(outbox_rows(&db), before);
}
