//! Dead letters as an operator handles them: the CLI and the portal page.

use std::sync::Arc;
use std::time::Duration;

use aicloud::platform::events::{Consumer, Envelope, Message};

use crate::helpers::{TestApp, TestDb, aicloud, platform_for};

struct AlwaysFails;

#[async_trait::async_trait]
impl Consumer for AlwaysFails {
    async fn handle(&self, _: &Envelope) -> Result<(), String> {
        Err("the downstream is down".into())
    }
}

/// A dead letter in `db`, made by a consumer that always fails.
async fn dead_letter(db: &TestDb) -> (Arc<aicloud::app::Platform>, uuid::Uuid) {
    let fast = [
        ("AICLOUD__EVENTS__RETRY_BASE_MS", "10"),
        ("AICLOUD__EVENTS__RETRY_MAX_MS", "20"),
        ("AICLOUD__EVENTS__POLL_MS", "20"),
        ("AICLOUD__EVENTS__MAX_ATTEMPTS", "2"),
    ];
    let platform = platform_for(db, &fast).await;
    platform
        .events
        .subscribe(
            "test.always_fails",
            &["platform.registry.changed"],
            Arc::new(AlwaysFails),
        )
        .await
        .expect("subscribed");
    platform.events.start_relay();
    platform
        .events
        .publish(Message::new(
            "platform.registry.changed",
            serde_json::json!({}),
        ))
        .await
        .expect("published");
    for _ in 0..200 {
        if let Some(letter) = platform
            .events
            .dead_letters(true)
            .await
            .expect("listed")
            .first()
        {
            return (platform.clone(), letter.id);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no dead letter appeared");
}

#[tokio::test]
async fn the_cli_lists_and_replays_a_dead_letter() {
    let db = TestDb::create();
    let (_platform, id) = dead_letter(&db).await;

    let listed = aicloud(&db, &["events", "dlq", "list", "--json"]);
    let replayed = aicloud(&db, &["events", "dlq", "replay", &id.to_string()]);
    let again = aicloud(&db, &["events", "dlq", "replay", &id.to_string()]);
    let open = aicloud(&db, &["events", "dlq", "list", "--json"]);

    let letters: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(letters[0]["id"], id.to_string());
    assert_eq!(letters[0]["error"], "the downstream is down");
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert!(!again.status.success(), "a dead letter replays once");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no open dead letter"));
    let still_open: serde_json::Value = serde_json::from_slice(&open.stdout).expect("json");
    // The consumer still fails, so the replayed delivery may already be dead again under a
    // new id; the replayed letter itself is closed.
    assert!(
        still_open
            .as_array()
            .expect("array")
            .iter()
            .all(|l| l["id"] != id.to_string())
    );
}

#[tokio::test]
async fn the_portal_page_lists_dead_letters_with_a_replay_button() {
    let app = TestApp::spawn().await;
    let empty = app
        .page("/events/dead-letters")
        .await
        .text()
        .await
        .expect("html");
    assert!(empty.contains("No dead letters."), "{empty}");

    let (_platform, id) = dead_letter(&app.db).await;
    let html = app
        .page("/events/dead-letters")
        .await
        .text()
        .await
        .expect("html");
    let action = app.url(&format!("/events/dead-letters/{id}/replay"));
    let browser = app.browser().await;
    let forged = browser
        .post(&action)
        .form(&[("csrf", "not-the-token")])
        .send()
        .await
        .expect("sent");
    let replay = browser
        .post(&action)
        .form(&[("csrf", crate::helpers::csrf_in(&html))])
        .send()
        .await
        .expect("sent");

    assert!(html.contains("test.always_fails"), "{html}");
    assert_eq!(forged.status(), 403, "a forged form is refused");
    assert_eq!(replay.status(), 303);
    let after = app
        .page("/events/dead-letters")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        after.contains(r#"<span class="tag">replayed</span>"#),
        "{after}"
    );
}
