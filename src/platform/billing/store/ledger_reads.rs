//! Reading the ledger: balances derived from postings, journal pages, unrated usage.

use std::collections::HashMap;

use diesel::prelude::*;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::funds::BalanceState;
use super::super::schema::{accounts, journal, postings, ratings, usage_captures, usage_events};
use super::super::{Balance, BillingError, JournalView, PostingView, UnratedUsage};
use super::posting::Writer;

/// An organization's funds as its postings say now.
pub fn balance(
    conn: &mut PgConnection,
    writer: &Writer,
    org: Uuid,
) -> Result<Balance, BillingError> {
    let funds = writer.funds_now(conn, org)?;
    let now = writer.clock.now();
    let available = funds.available(now);
    Ok(Balance {
        organization_id: org,
        currency: funds.currency.clone(),
        prepaid_minor: funds.prepaid.normalize(),
        promotional_minor: funds.promotional(now).normalize(),
        credit_line_minor: funds.credit_line.normalize(),
        available_minor: available.normalize(),
        state: BalanceState::of(available, writer.low_balance),
        grants: funds.grant_views(now),
    })
}

type JournalRowOut = (
    Uuid,
    i64,
    Option<Uuid>,
    String,
    String,
    String,
    Option<Uuid>,
    Option<String>,
    String,
    Option<String>,
    OffsetDateTime,
);

/// Newest first, before `before` (a seq), of `kind` if given, at most `limit`, with their
/// postings.
pub fn journal(
    conn: &mut PgConnection,
    org: Option<Uuid>,
    kind: Option<&str>,
    before: Option<i64>,
    limit: usize,
) -> QueryResult<Vec<JournalView>> {
    let mut query = journal::table
        .select(journal_columns())
        .order(journal::seq.desc())
        .limit(limit as i64)
        .into_boxed();
    if let Some(org) = org {
        query = query.filter(journal::organization_id.eq(org));
    }
    if let Some(before) = before {
        query = query.filter(journal::seq.lt(before));
    }
    if let Some(kind) = kind {
        query = query.filter(journal::kind.eq(kind.to_owned()));
    }
    let rows = query.load(conn)?;
    with_postings(conn, rows)
}

/// One transaction.
pub fn entry(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<JournalView>> {
    let rows: Vec<JournalRowOut> = journal::table
        .filter(journal::id.eq(id))
        .select(journal_columns())
        .load(conn)?;
    Ok(with_postings(conn, rows)?.pop())
}

#[diesel::dsl::auto_type(no_type_alias)]
fn journal_columns() -> _ {
    (
        journal::id,
        journal::seq,
        journal::organization_id,
        journal::kind,
        journal::source_type,
        journal::source_id,
        journal::corrects,
        journal::reason,
        journal::actor,
        journal::correlation_id,
        journal::created_at,
    )
}

/// (journal, account kind, account organization, currency, lot, amount).
type LegRow = (Uuid, String, Option<Uuid>, String, Option<Uuid>, Decimal);

fn with_postings(
    conn: &mut PgConnection,
    rows: Vec<JournalRowOut>,
) -> QueryResult<Vec<JournalView>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let legs: Vec<LegRow> = postings::table
        .inner_join(accounts::table)
        .filter(postings::journal_id.eq_any(&ids))
        .order(postings::id)
        .select((
            postings::journal_id,
            accounts::kind,
            accounts::organization_id,
            postings::currency,
            postings::grant_id,
            postings::amount_minor,
        ))
        .load(conn)?;
    let mut by_journal: HashMap<Uuid, Vec<PostingView>> = HashMap::new();
    for (journal_id, account, organization_id, currency, grant_id, amount) in legs {
        by_journal.entry(journal_id).or_default().push(PostingView {
            account,
            organization_id,
            currency,
            grant_id,
            amount_minor: amount.normalize(),
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| JournalView {
            id: r.0,
            seq: r.1,
            organization_id: r.2,
            kind: r.3,
            source_type: r.4,
            source_id: r.5,
            corrects: r.6,
            reason: r.7,
            actor: r.8,
            correlation_id: r.9,
            created_at: r.10,
            postings: by_journal.remove(&r.0).unwrap_or_default(),
        })
        .collect())
}

type UnratedRow = (
    Uuid,
    String,
    String,
    String,
    Decimal,
    String,
    String,
    Uuid,
    OffsetDateTime,
);

/// Accepted usage with no rating, oldest first, after the usage id `after`.
pub fn unrated(
    conn: &mut PgConnection,
    after: Option<Uuid>,
    limit: usize,
) -> QueryResult<Vec<UnratedUsage>> {
    let mut query = usage_events::table
        .left_join(ratings::table)
        .filter(ratings::usage_id.nullable().is_null())
        // Not yet posted is not unrated: the poster rates it within moments.
        .filter(diesel::dsl::not(diesel::dsl::exists(
            usage_captures::table
                .filter(usage_captures::batch_id.eq(usage_events::batch_id))
                .filter(usage_captures::organization_id.eq(usage_events::organization_id))
                .filter(usage_captures::posted_at.is_null()),
        )))
        .order(usage_events::id)
        .limit(limit as i64)
        .select((
            usage_events::id,
            usage_events::product,
            usage_events::event_id,
            usage_events::unit,
            usage_events::quantity,
            usage_events::resource_type,
            usage_events::resource_id,
            usage_events::organization_id,
            usage_events::occurred_at,
        ))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(usage_events::id.gt(after));
    }
    let rows: Vec<UnratedRow> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| UnratedUsage {
            usage_id: r.0,
            product: r.1,
            event_id: r.2,
            unit: r.3,
            quantity: r.4.normalize(),
            resource_type: r.5,
            resource_id: r.6,
            organization_id: r.7,
            occurred_at: r.8,
        })
        .collect())
}
