//! Statements equal the ledger (and their CSV parses back to the same totals);
//! reconciliation passes on a sound ledger and names what breaks one.

use aicloud::platform::billing::{Credit, NewGrant, Period, Refund, RefundOf};
use diesel::prelude::*;
use rust_decimal::Decimal;

use crate::billing_support::{Billed, INPUT, REQUESTS, console};
use crate::helpers::aicloud;

async fn a_month_of_activity(b: &Billed) {
    b.price(INPUT, "0.000015").await;
    b.price(REQUESTS, "2").await;
    b.top_up(1000).await;
    let grant = NewGrant {
        credit: Credit {
            amount_minor: 200,
            reason: "welcome".into(),
        },
        priority: 0,
        expires_at: None,
    };
    b.platform
        .ledger
        .grant(&console(), "acme", grant)
        .await
        .expect("grant");
    let mut events = Vec::new();
    for i in 0..30 {
        let model = if i % 3 == 0 { "big" } else { "small" };
        events.push(b.event(&format!("in-{i}"), INPUT, 1000 + i, model));
        events.push(b.event(&format!("req-{i}"), REQUESTS, 1, model));
    }
    b.ingest(events).await;
    let first = b.scalar("SELECT id::text AS n FROM billing.usage_events WHERE event_id = 'req-0'");
    let refund = Refund {
        of: RefundOf::UsageEvent(first.parse().expect("uuid")),
        amount_minor: None,
        reason: "failed request".into(),
    };
    b.platform
        .adjustments
        .refund(&console(), "acme", refund)
        .await
        .expect("refund");
}

#[tokio::test]
async fn a_statement_adds_up_to_the_ledger_and_its_csv_parses_back_to_the_same_totals() {
    let b = Billed::start().await;
    a_month_of_activity(&b).await;
    let month = Period::of(time::OffsetDateTime::now_utc());
    let s = b
        .platform
        .statements
        .statement(&console(), "acme", month)
        .await
        .expect("statement");
    let moved: Decimal = s.movements.iter().map(|m| m.amount_minor).sum();
    assert_eq!(s.opening_minor + moved, s.closing_minor);
    let balance = b.balance().await;
    assert_eq!(
        s.closing_minor,
        balance.prepaid_minor + balance.promotional_minor
    );
    let usage: Decimal = s.usage.iter().map(|u| u.amount_minor).sum();
    let usage_moved = s
        .movements
        .iter()
        .find(|m| m.kind == "usage")
        .expect("usage")
        .amount_minor;
    assert_eq!(usage, -usage_moved);
    // 30 requests at 2 cents, and 30,435 input tokens at 0.000015 cents.
    assert_eq!(usage.to_string(), "60.456525");
    assert_eq!(s.usage.len(), 4, "two units for each of two models");

    let csv = s.to_csv().expect("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let amount = |row: &csv::StringRecord| row[6].parse::<Decimal>().expect("amount");
    let of = |line: &str| {
        rows.iter()
            .filter(|r| &r[0] == line)
            .map(amount)
            .sum::<Decimal>()
    };
    let movements: Decimal = rows
        .iter()
        .filter(|r| !["opening", "closing", "usage_line"].contains(&&r[0]))
        .map(amount)
        .sum();
    assert_eq!(of("opening") + movements, of("closing"));
    assert_eq!(of("closing"), s.closing_minor);
    assert_eq!(of("usage_line"), usage);
}

#[tokio::test]
async fn reconciliation_passes_on_a_sound_ledger_and_names_what_breaks_one() {
    let b = Billed::start().await;
    a_month_of_activity(&b).await;
    let report = b
        .platform
        .statements
        .reconcile(&console())
        .await
        .expect("reconcile");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.checks.len() >= 7);
    let clean = aicloud(&b.db, &["billing", "reconcile"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );

    // Behind billing's back, as the owner with the balance trigger off: one leg more on a journal.
    let mut owner = b.db.connect();
    diesel::sql_query("ALTER TABLE billing.postings DISABLE TRIGGER postings_balanced")
        .execute(&mut owner)
        .expect("trigger off");
    diesel::sql_query(
        "INSERT INTO billing.postings (journal_id, account_id, currency, amount_minor) \
         SELECT j.id, a.id, a.currency, 5 FROM billing.journal j, billing.accounts a \
         WHERE j.kind = 'topup' AND a.kind = 'prepaid'",
    )
    .execute(&mut owner)
    .expect("tampered");
    let broken = aicloud(&b.db, &["billing", "reconcile"]);
    assert!(!broken.status.success());
    let said = String::from_utf8_lossy(&broken.stdout);
    assert!(said.contains("transactions_balance: journal"), "{said}");
    // The extra leg also leaves the account's running sum behind its postings; nothing else
    // breaks (the command's own funds snapshot is loaded after the tampering).
    assert!(
        said.contains("running_sums_equal_postings: account"),
        "{said}"
    );
    assert!(said.contains(", 2 violations:"), "{said}");
}

#[tokio::test]
async fn reconciliation_names_a_rating_whose_usage_and_price_are_missing() {
    let b = Billed::start().await;
    a_month_of_activity(&b).await;
    // Ratings' references are not checked at insert; behind billing's back, one rating
    // that refers to no usage event and no price.
    let mut owner = b.db.connect();
    diesel::sql_query(
        "INSERT INTO billing.ratings (usage_id, price_id, price_version, currency, \
           unit_price_minor, amount_minor, journal_id, rated_at) \
         SELECT gen_random_uuid(), gen_random_uuid(), 1, currency, 0, 0, NULL, now() \
         FROM billing.prices LIMIT 1",
    )
    .execute(&mut owner)
    .expect("a rating of nothing");
    let broken = aicloud(&b.db, &["billing", "reconcile"]);
    assert!(!broken.status.success());
    let said = String::from_utf8_lossy(&broken.stdout);
    assert!(
        said.contains("ratings_refer_to_what_exists: rating of usage"),
        "{said}"
    );
    assert!(said.contains("refers to no usage event no price"), "{said}");
    assert!(said.contains(", 1 violations:"), "{said}");
}
