//! The ledger and the spend guard: postings that balance and never change, credit drawn in
//! its documented order, one event per balance-state move, reservations that never admit
//! more than the funds cover.

use std::sync::{Arc, Barrier};

use aicloud::platform::billing::{Credit, NewGrant};
use aicloud::platform::iam::{OrganizationId, ProjectId};
use diesel::prelude::*;
use serde_json::json;

use crate::billing_support::{Billed, REQUESTS, console, requests};
use crate::helpers::TestApp;

#[tokio::test]
async fn sixty_four_concurrent_reserves_against_funds_for_ten_admit_ten() {
    let b = Billed::start().await;
    b.price(REQUESTS, "10").await;
    b.top_up(100).await;
    let (org, project) = (
        OrganizationId(b.org.organization.id),
        ProjectId(b.org.project.id),
    );
    let start = Arc::new(Barrier::new(64));
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (guard, start) = (b.platform.spend.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                guard.reserve(org, project, &requests(1)).ok()
            })
        })
        .collect();
    let holds: Vec<_> = threads
        .into_iter()
        .filter_map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(holds.len(), 10);
    assert!(
        b.platform
            .spend
            .reserve(org, project, &requests(1))
            .is_err()
    );
    // Releasing one frees exactly one; dropping a hold releases it too.
    let mut holds = holds.into_iter();
    b.platform.spend.release(holds.next().expect("a hold"));
    drop(holds.next());
    let again: Vec<_> = (0..3)
        .filter_map(|_| b.platform.spend.reserve(org, project, &requests(1)).ok())
        .collect();
    assert_eq!(again.len(), 2);
}

#[tokio::test]
async fn an_actual_above_its_hold_is_charged_in_full_and_counted() {
    let b = Billed::start().await;
    b.price(REQUESTS, "10").await;
    b.top_up(1000).await;
    let (org, project) = (
        OrganizationId(b.org.organization.id),
        ProjectId(b.org.project.id),
    );
    let hold = b
        .platform
        .spend
        .reserve(org, project, &requests(1))
        .expect("reserved");
    b.ingest(vec![b.event("big", REQUESTS, 3, "demo")]).await;
    b.platform.spend.settle(hold, &requests(3));
    assert_eq!(b.platform.spend.overruns(), 1);
    let balance = b.balance().await;
    assert_eq!(balance.prepaid_minor.to_string(), "970");
    // The guard sees this process's commit before any snapshot reload: 970 covers 97.
    let many = b.platform.spend.reserve(org, project, &requests(98));
    assert!(many.is_err(), "98 requests cost 980 > 970");
    assert!(
        b.platform
            .spend
            .reserve(org, project, &requests(97))
            .is_ok()
    );
}

#[tokio::test]
async fn usage_draws_on_promotional_lots_by_priority_then_on_prepaid() {
    let b = Billed::start().await;
    b.price(REQUESTS, "1").await;
    b.top_up(1000).await;
    for (amount, priority) in [(300, 0), (200, 5)] {
        let grant = NewGrant {
            credit: Credit {
                amount_minor: amount,
                reason: "launch promo".into(),
            },
            priority,
            expires_at: Some(time::OffsetDateTime::now_utc() + time::Duration::days(30)),
        };
        b.platform
            .ledger
            .grant(&console(), "acme", grant)
            .await
            .expect("grant");
    }
    b.ingest(vec![b.event("u1", REQUESTS, 250, "demo")]).await;
    let balance = b.balance().await;
    let left: Vec<(i32, String)> = balance
        .grants
        .iter()
        .map(|g| (g.priority, g.remaining_minor.to_string()))
        .collect();
    // The priority-5 lot (200) goes first, then 50 of the other; prepaid untouched.
    assert_eq!(left, [(0, "250".to_owned())]);
    assert_eq!(balance.prepaid_minor.to_string(), "1000");
    b.ingest(vec![b.event("u2", REQUESTS, 400, "demo")]).await;
    let balance = b.balance().await;
    assert!(balance.grants.is_empty());
    assert_eq!(balance.prepaid_minor.to_string(), "850");
    assert_eq!(b.unbalanced(), "0");
}

#[tokio::test]
async fn each_balance_state_move_is_announced_once() {
    let b = Billed::start_with(&[("AICLOUD__BILLING__LOW_BALANCE_MINOR", "1000")]).await;
    b.price(REQUESTS, "1").await;
    b.top_up(1500).await;
    for (i, n) in [100, 100, 400, 100, 900].into_iter().enumerate() {
        let event = b.event(&format!("u{i}"), REQUESTS, n, "demo");
        b.ingest(vec![event]).await;
    }
    let announced = b.scalar(
        "SELECT string_agg(event_type, ',' ORDER BY seq) AS n FROM events.outbox WHERE event_type LIKE 'platform.billing.balance%'",
    );
    assert_eq!(
        announced,
        "platform.billing.balance_restored,platform.billing.balance_low,platform.billing.balance_depleted"
    );
}

#[tokio::test]
async fn ledger_rows_never_change_and_an_unbalanced_transaction_never_commits() {
    let b = Billed::start().await;
    b.top_up(100).await;
    let mut server = b.db.connect_as_server();
    for statement in [
        "UPDATE billing.postings SET amount_minor = 1",
        "DELETE FROM billing.journal",
        "DELETE FROM billing.usage_events",
    ] {
        assert!(
            diesel::sql_query(statement).execute(&mut server).is_err(),
            "{statement} must be refused"
        );
    }
    let one_legged = server.transaction::<_, diesel::result::Error, _>(|conn| {
        diesel::sql_query(
            "INSERT INTO billing.journal (id, kind, source_type, source_id, actor, created_at) \
             VALUES ('00000000-0000-7000-8000-000000000001', 'topup', 'operator', 'x', 'intruder', now())",
        )
        .execute(conn)?;
        diesel::sql_query(
            "INSERT INTO billing.postings (journal_id, account_id, currency, amount_minor) \
             SELECT '00000000-0000-7000-8000-000000000001', id, currency, 1000 FROM billing.accounts WHERE kind = 'prepaid'",
        )
        .execute(conn)?;
        Ok(())
    });
    let refused = one_legged.expect_err("the commit is refused");
    assert!(
        refused.to_string().contains("does not balance"),
        "{refused}"
    );
    let balance = b.balance().await;
    assert_eq!(balance.prepaid_minor.to_string(), "100");
}

#[tokio::test]
async fn usage_over_http_needs_the_ingest_scope_and_a_top_up_is_audited_with_its_request() {
    let app = TestApp::spawn().await;
    let key = app.admin_key().await.to_owned();
    let body = json!({ "amount_minor": 2500, "reason": "wire transfer 7781" });
    let res = app
        .client
        .post(app.url("/api/v1/billing/orgs/platform-ops/topups"))
        .bearer_auth(&key)
        .header("x-request-id", "req-topup-1")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let balance = app
        .get_json("/api/v1/billing/orgs/platform-ops/balance")
        .await;
    assert_eq!(balance["prepaid_minor"], "2500");
    assert_eq!(balance["state"], "healthy");
    let audited = app
        .get_json("/api/v1/audit/events?action=platform.billing.adjustment_posted")
        .await;
    assert_eq!(
        audited["events"][0]["correlation_id"], "req-topup-1",
        "{audited}"
    );
    let journal = app
        .get_json("/api/v1/billing/orgs/platform-ops/journal")
        .await;
    assert_eq!(journal["items"][0]["kind"], "topup");
    assert_eq!(journal["items"][0]["correlation_id"], "req-topup-1");
    let too_many: Vec<serde_json::Value> = (0..1001).map(|i| json!({ "event_id": i })).collect();
    let res = app
        .post(
            "/api/v1/billing/usage",
            "application/json",
            json!({ "events": too_many }).to_string(),
        )
        .await;
    assert_eq!(res.status(), 422);
    let anonymous = app
        .client
        .post(app.url("/api/v1/billing/usage"))
        .json(&json!({ "events": [] }))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_credit_line_moves_the_balance_state_too() {
    let b = Billed::start().await;
    let line = Credit {
        amount_minor: 300,
        reason: "net 30 terms".into(),
    };
    let balance = b
        .platform
        .ledger
        .set_credit_line(&console(), "acme", line)
        .await
        .expect("credit line");
    assert_eq!(balance.available_minor.to_string(), "300");
    let announced = b.scalar(
        "SELECT string_agg(event_type, ',' ORDER BY seq) AS n FROM events.outbox WHERE event_type LIKE 'platform.billing.balance%'",
    );
    assert_eq!(announced, "platform.billing.balance_low");
    let recorded = b.scalar("SELECT string_agg(state || ':' || (journal_id IS NULL), ',') AS n FROM billing.balance_states");
    assert_eq!(recorded, "low_balance:true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_sees_a_top_up_and_a_debit_within_a_second() {
    let b = Billed::start().await;
    b.price(REQUESTS, "10").await;
    // A second platform over the same database: its own funds snapshot and listener.
    let other = crate::helpers::platform_for(&b.db, &[]).await;
    let (org, project) = (
        OrganizationId(b.org.organization.id),
        ProjectId(b.org.project.id),
    );
    assert!(
        other.spend.reserve(org, project, &requests(1)).is_err(),
        "no money yet"
    );
    b.top_up(100).await;
    let seen_within = |limit_ms: u64, admits: usize| {
        let other = other.clone();
        async move {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_millis(limit_ms) {
                let holds: Vec<_> = (0..admits + 1)
                    .filter_map(|_| other.spend.reserve(org, project, &requests(1)).ok())
                    .collect();
                if holds.len() == admits {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            false
        }
    };
    assert!(
        seen_within(1000, 10).await,
        "the top-up reached the other process within 1 s"
    );
    b.ingest(vec![b.event("spent", REQUESTS, 7, "demo")]).await;
    assert!(
        seen_within(1000, 3).await,
        "the debit reached the other process within 1 s"
    );
}
