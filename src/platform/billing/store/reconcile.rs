//! The ledger's invariants as queries: each names the rows that break it. What the
//! database already refuses (an unbalanced commit, an edited row) is checked again here,
//! because a reconciliation must not trust the mechanism it audits.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use time::OffsetDateTime;

use super::super::statement::{Reconciliation, Violation};

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// (check, query yielding one `detail` per violation). `$1` is now, `$2` the grace for
/// unrated usage in minutes.
const CHECKS: &[(&str, &str)] = &[
    (
        "transactions_balance",
        "SELECT 'journal ' || journal_id || ' sums to ' || sum(amount_minor) || ' ' || currency AS detail \
         FROM billing.postings GROUP BY journal_id, currency HAVING sum(amount_minor) <> 0",
    ),
    (
        "transactions_have_two_legs",
        "SELECT 'journal ' || j.id || ' has ' || count(p.id) || ' postings' AS detail FROM billing.journal j \
         LEFT JOIN billing.postings p ON p.journal_id = j.id GROUP BY j.id HAVING count(p.id) < 2",
    ),
    (
        "rated_usage_posted",
        "SELECT 'usage ' || usage_id || ' was rated ' || amount_minor || ' and never posted' AS detail \
         FROM billing.ratings WHERE amount_minor > 0 AND journal_id IS NULL",
    ),
    (
        "usage_postings_equal_ratings",
        "SELECT 'usage journal ' || j.id || ' credits revenue ' || coalesce(rev.total, 0) || ' for ratings of ' || coalesce(rat.total, 0) AS detail \
         FROM billing.journal j \
         LEFT JOIN (SELECT p.journal_id, sum(p.amount_minor) AS total FROM billing.postings p \
                    JOIN billing.accounts a ON a.id = p.account_id AND a.kind = 'revenue' GROUP BY p.journal_id) rev ON rev.journal_id = j.id \
         LEFT JOIN (SELECT journal_id, sum(amount_minor) AS total FROM billing.ratings GROUP BY journal_id) rat ON rat.journal_id = j.id \
         WHERE j.kind = 'usage' AND coalesce(rev.total, 0) <> coalesce(rat.total, 0)",
    ),
    (
        // Not checked at insert (see the migration that dropped the ratings' foreign keys).
        "ratings_refer_to_what_exists",
        "SELECT 'rating of usage ' || r.usage_id || ' refers to' \
           || CASE WHEN u.id IS NULL THEN ' no usage event' ELSE '' END \
           || CASE WHEN p.id IS NULL THEN ' no price ' || r.price_id ELSE '' END \
           || CASE WHEN r.journal_id IS NOT NULL AND j.id IS NULL THEN ' no journal ' || r.journal_id ELSE '' END AS detail \
         FROM billing.ratings r LEFT JOIN billing.usage_events u ON u.id = r.usage_id \
         LEFT JOIN billing.prices p ON p.id = r.price_id LEFT JOIN billing.journal j ON j.id = r.journal_id \
         WHERE u.id IS NULL OR p.id IS NULL OR (r.journal_id IS NOT NULL AND j.id IS NULL)",
    ),
    (
        "no_stale_unrated_usage",
        "SELECT 'usage ' || u.id || ' (' || u.product || ' ' || u.unit || ') has waited unrated since ' || u.received_at AS detail \
         FROM billing.usage_events u LEFT JOIN billing.ratings r ON r.usage_id = u.id \
         WHERE r.usage_id IS NULL AND u.received_at < $1 - make_interval(mins => $2::int)",
    ),
    (
        "refunds_within_charges",
        "SELECT 'usage ' || u.id || ' charged ' || r.amount_minor || ', refunded ' || f.total AS detail \
         FROM (SELECT j.source_id, sum(abs(p.amount_minor)) AS total FROM billing.journal j \
               JOIN billing.postings p ON p.journal_id = j.id JOIN billing.accounts a ON a.id = p.account_id AND a.kind = 'prepaid' \
               WHERE j.kind = 'refund' AND j.source_type = 'usage_event' GROUP BY j.source_id) f \
         JOIN billing.usage_events u ON u.id::text = f.source_id JOIN billing.ratings r ON r.usage_id = u.id \
         WHERE f.total > r.amount_minor",
    ),
    (
        "lots_never_negative",
        "SELECT 'grant ' || grant_id || ' is overdrawn: ' || sum(amount_minor) AS detail FROM billing.postings \
         WHERE grant_id IS NOT NULL GROUP BY grant_id HAVING sum(amount_minor) < 0",
    ),
    (
        "payments_credited_once",
        "SELECT 'payment ' || p.provider || ' ' || p.provider_event_id || ' of ' || p.amount_minor || ' credited ' || coalesce(c.total, 0) AS detail \
         FROM billing.payments p \
         LEFT JOIN (SELECT po.journal_id, sum(po.amount_minor) AS total FROM billing.postings po \
                    JOIN billing.accounts a ON a.id = po.account_id AND a.kind = 'prepaid' GROUP BY po.journal_id) c ON c.journal_id = p.journal_id \
         WHERE p.status = 'credited' AND coalesce(c.total, 0) <> p.amount_minor",
    ),
    (
        "payment_credits_backed_by_payments",
        "SELECT 'payment journal ' || j.id || ' (' || j.source_id || ') has no credited payment behind it' AS detail \
         FROM billing.journal j LEFT JOIN billing.payments p \
         ON p.journal_id = j.id AND p.status = 'credited' AND p.provider_event_id = j.source_id \
         WHERE j.kind = 'payment' AND p.id IS NULL",
    ),
    (
        "running_sums_equal_postings",
        "SELECT 'account ' || coalesce(s.account_id, b.account_id) || ' lot ' || coalesce(s.grant_key, b.grant_key) \
         || ' sums to ' || coalesce(s.total, 0) || ' but its running sum is ' || coalesce(b.amount_minor, 0) AS detail \
         FROM (SELECT p.account_id, coalesce(p.grant_id, '00000000-0000-0000-0000-000000000000'::uuid) AS grant_key, \
                      sum(p.amount_minor) AS total \
               FROM billing.postings p JOIN billing.accounts a ON a.id = p.account_id \
               WHERE a.organization_id IS NOT NULL GROUP BY 1, 2) s \
         FULL JOIN billing.account_balances b ON b.account_id = s.account_id AND b.grant_key = s.grant_key \
         WHERE coalesce(s.total, 0) <> coalesce(b.amount_minor, 0)",
    ),
];

/// Runs every check.
pub fn run(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    grace_minutes: i64,
) -> QueryResult<Reconciliation> {
    let mut violations = Vec::new();
    for (check, sql) in CHECKS {
        // Every check gets both parameters, used or not.
        let sql = format!(
            "SELECT detail FROM ({sql}) found WHERE $1::timestamptz IS NOT NULL AND $2::bigint IS NOT NULL"
        );
        let found: Vec<Found> = diesel::sql_query(sql)
            .bind::<Timestamptz, _>(now)
            .bind::<BigInt, _>(grace_minutes)
            .load(conn)?;
        violations.extend(found.into_iter().map(|f| Violation {
            check: (*check).to_owned(),
            detail: f.detail,
        }));
    }
    Ok(Reconciliation {
        checked_at: now,
        checks: CHECKS
            .iter()
            .map(|(check, _)| (*check).to_owned())
            .collect(),
        violations,
    })
}
