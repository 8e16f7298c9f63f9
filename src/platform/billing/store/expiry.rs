//! Expiry of promotional lots: value left at a lot's expiry already stops counting at that
//! instant (funds ignore it); this posts it back to the platform's grants account so the
//! ledger says so too. One transaction per lot; the `journal_once` index makes a second
//! posting of the same lot (another process, a rerun) fail harmlessly.

use diesel::prelude::*;
use diesel::sql_types::{Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::super::BillingError;
use super::lock_organizations;
use super::posting::{Writer, post};
use super::rows::JournalRow;
use crate::base::db::DbError;

/// Most lots one run posts; the next run takes the rest.
const MAX_PER_RUN: i64 = 1000;

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
}

/// Posts every due expiry; returns how many were posted by this run.
pub fn post_due(conn: &mut PgConnection, writer: &Writer) -> Result<usize, BillingError> {
    let due: Vec<Due> = diesel::sql_query(
        "SELECT g.id, g.organization_id FROM billing.grants g \
         WHERE g.expires_at <= $1 \
           AND NOT EXISTS (SELECT 1 FROM billing.journal j WHERE j.kind = 'expiry' AND j.source_id = g.id::text) \
           AND (SELECT sum(p.amount_minor) FROM billing.postings p WHERE p.grant_id = g.id) > 0 \
         ORDER BY g.expires_at LIMIT $2",
    )
    .bind::<Timestamptz, _>(writer.clock.now())
    .bind::<diesel::sql_types::BigInt, _>(MAX_PER_RUN)
    .load(conn)?;
    let mut posted = 0;
    for lot in due {
        match conn.transaction(|conn| expire(conn, writer, lot.id, lot.organization_id)) {
            Ok(true) => posted += 1,
            Ok(false) => {}
            Err(BillingError::Db(DbError::Conflict { .. })) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(posted)
}

/// Promotional −left on the lot, grants +left.
fn expire(
    conn: &mut PgConnection,
    writer: &Writer,
    lot: Uuid,
    org: Uuid,
) -> Result<bool, BillingError> {
    lock_organizations(conn, &[org])?;
    let left: Option<Decimal> = super::super::schema::postings::table
        .filter(super::super::schema::postings::grant_id.eq(lot))
        .select(diesel::dsl::sum(
            super::super::schema::postings::amount_minor,
        ))
        .first(conn)?;
    let left = left.unwrap_or_default();
    if left <= Decimal::ZERO {
        return Ok(false);
    }
    let mut entry = JournalRow::new(
        Some(org),
        "expiry",
        ("grant", lot.to_string()),
        "billing".into(),
        writer.clock.now(),
    );
    entry.reason = Some("promotional credit expired".into());
    let id = entry.id;
    let legs = [
        writer.leg(
            id,
            writer.account(conn, Some(org), "promotional")?,
            Some(lot),
            -left,
        ),
        writer.leg(id, writer.account(conn, None, "grants")?, None, left),
    ];
    post(conn, &[entry], &legs)?;
    let after = writer.funds_now(conn, org)?;
    writer.record_state(conn, org, &after, Some(id))?;
    Ok(true)
}
