//! `Adjustments`: refunds bounded by what was charged, reversals of credits posted in
//! error, and the expiry of promotional lots. Refunds of one organization run under its
//! funds lock, so concurrent refunds see each other and together never exceed the charge.

use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::super::money::{AMOUNT_SCALE, MAX_CREDIT_MINOR, check_decimal};
use super::super::schema::{grants, journal, postings, ratings, usage_events};
use super::super::{
    Adjustments, BILLING_ADJUST, BillingError, JournalView, Period, Refund, RefundOf,
};
use super::credits::{Mover, audited, check_reason};
use super::posting::post;
use super::rows::JournalRow;
use super::{PgBilling, lock_organizations};
use crate::base::db::DbError;
use crate::platform::iam::{Caller, Target};

#[async_trait::async_trait]
impl Adjustments for PgBilling {
    async fn refund(
        &self,
        caller: &Caller,
        organization: &str,
        refund: Refund,
    ) -> Result<JournalView, BillingError> {
        check_reason(&refund.reason)?;
        if let Some(amount) = refund.amount_minor {
            check_decimal(amount, AMOUNT_SCALE, MAX_CREDIT_MINOR).map_err(|reason| {
                BillingError::Invalid {
                    field: "amount_minor",
                    reason,
                }
            })?;
        }
        let org = self.adjusting(caller, organization).await?;
        let entry = self
            .moving(caller, move |conn, mover| {
                refund_on(conn, mover, org, &refund)
            })
            .await?;
        self.journal_entry(entry).await
    }

    async fn reverse(
        &self,
        caller: &Caller,
        journal_id: Uuid,
        reason: &str,
    ) -> Result<JournalView, BillingError> {
        check_reason(reason)?;
        self.authorized(caller, BILLING_ADJUST, Target::Platform)
            .await?;
        let reason = reason.trim().to_owned();
        let entry = self
            .moving(caller, move |conn, mover| {
                reverse_on(conn, mover, journal_id, &reason)
            })
            .await?;
        self.journal_entry(entry).await
    }

    async fn post_expiries(&self) -> Result<usize, BillingError> {
        let writer = self.writer.clone();
        let posted = self
            .db
            .run(move |conn| super::expiry::post_due(conn, &writer))
            .await?;
        if posted > 0 {
            self.reload_funds().await?;
        }
        Ok(posted)
    }
}

/// What a refund may still take from its source, and how it posts.
struct Refundable {
    source: (&'static str, String),
    left: Decimal,
    /// Money going back out (a payment) rather than a charge taken back (usage).
    outward: bool,
}

fn refund_on(
    conn: &mut PgConnection,
    mover: &Mover,
    org: Uuid,
    refund: &Refund,
) -> Result<Uuid, BillingError> {
    lock_organizations(conn, &[org])?;
    let refundable = match &refund.of {
        RefundOf::UsageEvent(usage) => usage_event(conn, org, *usage)?,
        RefundOf::Period(period) => {
            let left = period_left(conn, org, *period)?;
            Refundable {
                source: ("period", period.to_string()),
                left,
                outward: false,
            }
        }
        RefundOf::Payment(entry) => payment(conn, mover, org, *entry)?,
    };
    let amount = refund.amount_minor.unwrap_or(refundable.left);
    if amount <= Decimal::ZERO || amount > refundable.left {
        return Err(BillingError::Conflict(format!(
            "at most {} minor units of it can be refunded",
            refundable.left.max(Decimal::ZERO).normalize()
        )));
    }
    let w = &mover.writer;
    let now = w.clock.now();
    let mut entry = JournalRow::new(
        Some(org),
        "refund",
        refundable.source.clone(),
        mover.actor.id.clone(),
        now,
    );
    entry.reason = Some(refund.reason.trim().to_owned());
    let prepaid = w.account(conn, Some(org), "prepaid")?;
    let (counter, sign) = match refundable.outward {
        true => (w.account(conn, None, "refunds")?, -Decimal::ONE),
        false => (w.account(conn, None, "revenue")?, Decimal::ONE),
    };
    let legs = [
        w.leg(entry.id, prepaid, None, sign * amount),
        w.leg(entry.id, counter, None, -sign * amount),
    ];
    let id = entry.id;
    post(conn, &[entry], &legs)?;
    let details = json!({ "kind": "refund", "of": refundable.source.0, "source_id": refundable.source.1, "amount_minor": amount.normalize().to_string(), "reason": refund.reason });
    audited(conn, mover, org, id, details)?;
    mover.writer.settle_state(conn, org, Some(id))?;
    Ok(id)
}

/// A usage event's charge less its refunds, and never more than its month has left.
fn usage_event(
    conn: &mut PgConnection,
    org: Uuid,
    usage: Uuid,
) -> Result<Refundable, BillingError> {
    let charged: Option<(Decimal, time::OffsetDateTime)> = ratings::table
        .inner_join(usage_events::table)
        .filter(usage_events::id.eq(usage))
        .filter(usage_events::organization_id.eq(org))
        .select((ratings::amount_minor, usage_events::occurred_at))
        .first(conn)
        .optional()?;
    let (charge, occurred_at) = charged.ok_or_else(|| {
        BillingError::NotFound(format!("no rated usage {usage} in this organization"))
    })?;
    let source = ("usage_event", usage.to_string());
    let left = (charge - refunded(conn, org, &source)?).min(period_left(
        conn,
        org,
        Period::of(occurred_at),
    )?);
    Ok(Refundable {
        source,
        left,
        outward: false,
    })
}

/// A payment or top-up of the organization, less what was refunded of it; never more than
/// the prepaid balance holds (money already spent is not sent back).
fn payment(
    conn: &mut PgConnection,
    mover: &Mover,
    org: Uuid,
    entry: Uuid,
) -> Result<Refundable, BillingError> {
    let found: Option<String> = journal::table
        .filter(journal::id.eq(entry))
        .filter(journal::organization_id.eq(org))
        .filter(journal::kind.eq_any(["payment", "topup"]))
        .select(journal::kind)
        .first(conn)
        .optional()?;
    found.ok_or_else(|| {
        BillingError::NotFound(format!("no payment or top-up {entry} in this organization"))
    })?;
    let prepaid = mover.writer.account(conn, Some(org), "prepaid")?;
    let paid: Option<Decimal> = postings::table
        .filter(postings::journal_id.eq(entry))
        .filter(postings::account_id.eq(prepaid))
        .select(diesel::dsl::sum(postings::amount_minor))
        .first(conn)?;
    let source = ("payment", entry.to_string());
    let left = paid.unwrap_or_default() - refunded(conn, org, &source)?;
    let held = mover.writer.funds_now(conn, org)?.prepaid;
    Ok(Refundable {
        source,
        left: left.min(held),
        outward: true,
    })
}

#[derive(QueryableByName)]
struct Sum {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    total: Option<Decimal>,
}

/// What refunds of `source` have moved on the organization's prepaid account.
fn refunded(conn: &mut PgConnection, org: Uuid, source: &(&str, String)) -> QueryResult<Decimal> {
    let sum: Sum = diesel::sql_query(
        "SELECT sum(abs(p.amount_minor)) AS total FROM billing.journal j \
         JOIN billing.postings p ON p.journal_id = j.id \
         JOIN billing.accounts a ON a.id = p.account_id AND a.kind = 'prepaid' \
         WHERE j.kind = 'refund' AND j.organization_id = $1 AND j.source_type = $2 AND j.source_id = $3",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(source.0)
    .bind::<Text, _>(&source.1)
    .get_result(conn)?;
    Ok(sum.total.unwrap_or_default())
}

/// A month's usage charges less every refund drawn on them (of the month itself or of
/// any event in it).
fn period_left(conn: &mut PgConnection, org: Uuid, period: Period) -> QueryResult<Decimal> {
    let (from, to) = period.bounds();
    let charged: Sum = diesel::sql_query(
        "SELECT sum(r.amount_minor) AS total FROM billing.ratings r \
         JOIN billing.usage_events u ON u.id = r.usage_id \
         WHERE u.organization_id = $1 AND u.occurred_at >= $2 AND u.occurred_at < $3",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)?;
    let refunded: Sum = diesel::sql_query(
        "SELECT sum(abs(p.amount_minor)) AS total FROM billing.journal j \
         JOIN billing.postings p ON p.journal_id = j.id \
         JOIN billing.accounts a ON a.id = p.account_id AND a.kind = 'prepaid' \
         WHERE j.kind = 'refund' AND j.organization_id = $1 AND ( \
           (j.source_type = 'period' AND j.source_id = $4) OR \
           (j.source_type = 'usage_event' AND j.source_id IN ( \
              SELECT id::text FROM billing.usage_events \
              WHERE organization_id = $1 AND occurred_at >= $2 AND occurred_at < $3)))",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<Text, _>(period.to_string())
    .get_result(conn)?;
    Ok(charged.total.unwrap_or_default() - refunded.total.unwrap_or_default())
}

/// Reverses every leg of a top-up or grant, once; a grant only while its lot is untouched.
fn reverse_on(
    conn: &mut PgConnection,
    mover: &Mover,
    original: Uuid,
    reason: &str,
) -> Result<Uuid, BillingError> {
    let found: Option<(Option<Uuid>, String)> = journal::table
        .filter(journal::id.eq(original))
        .select((journal::organization_id, journal::kind))
        .first(conn)
        .optional()?;
    let (org, kind) = found
        .ok_or_else(|| BillingError::NotFound(format!("no journal transaction {original}")))?;
    let org = match (org, kind.as_str()) {
        (Some(org), "topup" | "grant") => org,
        _ => {
            return Err(BillingError::Conflict(format!(
                "a {kind} transaction is not reversed; refund usage and payments instead"
            )));
        }
    };
    lock_organizations(conn, &[org])?;
    let legs: Vec<(Uuid, String, Option<Uuid>, Decimal)> = postings::table
        .filter(postings::journal_id.eq(original))
        .select((
            postings::account_id,
            postings::currency,
            postings::grant_id,
            postings::amount_minor,
        ))
        .load(conn)?;
    refuse_drawn_lots(conn, mover, org, &legs)?;
    let w = &mover.writer;
    let mut entry = JournalRow::new(
        Some(org),
        "correction",
        ("journal", original.to_string()),
        mover.actor.id.clone(),
        w.clock.now(),
    );
    entry.corrects = Some(original);
    entry.reason = Some(reason.to_owned());
    let id = entry.id;
    let reversed: Vec<_> = legs
        .into_iter()
        .map(|(account, currency, lot, amount)| super::rows::PostingRow {
            journal_id: id,
            account_id: account,
            currency,
            grant_id: lot,
            amount_minor: -amount,
        })
        .collect();
    post(conn, &[entry], &reversed).map_err(|err| match DbError::from(err) {
        DbError::Conflict { .. } => {
            BillingError::Conflict(format!("transaction {original} is already reversed"))
        }
        other => BillingError::Db(other),
    })?;
    audited(
        conn,
        mover,
        org,
        id,
        json!({ "kind": "correction", "corrects": original, "reason": reason }),
    )?;
    mover.writer.settle_state(conn, org, Some(id))?;
    Ok(id)
}

/// A grant's reversal takes back its whole lot, so nothing of it may have been drawn.
fn refuse_drawn_lots(
    conn: &mut PgConnection,
    mover: &Mover,
    org: Uuid,
    legs: &[(Uuid, String, Option<Uuid>, Decimal)],
) -> Result<(), BillingError> {
    let funds = mover.writer.funds_now(conn, org)?;
    for (_, _, lot, amount) in legs {
        let Some(lot) = lot else { continue };
        let untouched = funds
            .lots
            .iter()
            .any(|l| l.grant_id == *lot && l.remaining == *amount);
        let expired: bool = grants::table
            .filter(grants::id.eq(lot))
            .select(grants::expires_at)
            .first::<Option<time::OffsetDateTime>>(conn)?
            .is_some_and(|at| at <= mover.writer.clock.now());
        if !untouched || expired {
            return Err(BillingError::Conflict(format!(
                "grant {lot} has been drawn on or has expired; it cannot be reversed"
            )));
        }
    }
    Ok(())
}
