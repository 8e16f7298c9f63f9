//! `Ledger`: money people move (top-ups, promotional grants, credit lines), each in one
//! transaction with its postings, its audit event and any balance-state transition.

use std::sync::Arc;

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::money::check_credit;
use super::super::schema::{credit_lines, grants};
use super::super::{
    BILLING_ADJUST, BILLING_READ, Balance, BillingError, Credit, JOURNAL_KINDS, JournalView,
    Ledger, NewGrant,
};
use super::ledger_reads;
use super::posting::{Writer, post};
use super::rows::{GrantRow, JournalRow};
use super::{PgBilling, lock_organizations, notify_funds};
use crate::platform::audit::{Actor, Audit, NewEvent};
use crate::platform::iam::{Caller, Target};

/// Longest reason a money movement may carry, in characters.
const MAX_REASON: usize = 500;

/// Who moved the money and the audit trail it goes to.
pub(super) struct Mover {
    pub actor: Actor,
    pub audit: Arc<dyn Audit>,
    pub writer: Writer,
}

#[async_trait::async_trait]
impl Ledger for PgBilling {
    async fn balance(&self, caller: &Caller, organization: &str) -> Result<Balance, BillingError> {
        let place = self
            .authorized(caller, BILLING_READ, Target::org(organization))
            .await?;
        let org = place.org()?.id;
        let writer = self.writer.clone();
        self.db
            .run(move |conn| ledger_reads::balance(conn, &writer, org))
            .await
    }

    async fn top_up(
        &self,
        caller: &Caller,
        organization: &str,
        credit: Credit,
    ) -> Result<JournalView, BillingError> {
        let amount = checked(&credit)?;
        let org = self.adjusting(caller, organization).await?;
        let entry = self
            .moving(caller, move |conn, mover| {
                top_up_on(conn, mover, org, amount, &credit.reason)
            })
            .await?;
        self.journal_entry(entry).await
    }

    async fn grant(
        &self,
        caller: &Caller,
        organization: &str,
        grant: NewGrant,
    ) -> Result<JournalView, BillingError> {
        let amount = checked(&grant.credit)?;
        if !(0..=1000).contains(&grant.priority) {
            return Err(BillingError::Invalid {
                field: "priority",
                reason: "must be 0 to 1000".into(),
            });
        }
        let now = self.with.clock.now();
        if grant.expires_at.is_some_and(|at| at <= now) {
            return Err(BillingError::Invalid {
                field: "expires_at",
                reason: "must be in the future".into(),
            });
        }
        let org = self.adjusting(caller, organization).await?;
        let entry = self
            .moving(caller, move |conn, mover| {
                grant_on(conn, mover, org, amount, &grant)
            })
            .await?;
        self.journal_entry(entry).await
    }

    async fn set_credit_line(
        &self,
        caller: &Caller,
        organization: &str,
        credit: Credit,
    ) -> Result<Balance, BillingError> {
        check_reason(&credit.reason)?;
        let limit = match credit.amount_minor {
            0 => Decimal::ZERO,
            _ => checked(&credit)?,
        };
        let org = self.adjusting(caller, organization).await?;
        self.moving(caller, move |conn, mover| {
            credit_line_on(conn, mover, org, limit, &credit.reason)
        })
        .await?;
        self.balance(caller, organization).await
    }

    async fn journal(
        &self,
        caller: &Caller,
        organization: Option<&str>,
        kind: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<JournalView>, BillingError> {
        if let Some(kind) = kind.filter(|k| !JOURNAL_KINDS.contains(k)) {
            return Err(BillingError::Invalid {
                field: "kind",
                reason: format!("`{kind}` is not one of {}", JOURNAL_KINDS.join(", ")),
            });
        }
        let kind = kind.map(str::to_owned);
        let org = match organization {
            Some(slug) => {
                let place = self
                    .authorized(caller, BILLING_READ, Target::org(slug))
                    .await?;
                Some(place.org()?.id)
            }
            None => {
                self.authorized(caller, BILLING_READ, Target::Platform)
                    .await?;
                None
            }
        };
        self.db
            .run(move |conn| {
                Ok(ledger_reads::journal(
                    conn,
                    org,
                    kind.as_deref(),
                    before,
                    limit,
                )?)
            })
            .await
    }
}

impl PgBilling {
    /// Runs a money movement by `caller` in one transaction, then lets this process's
    /// spend guard see it at once.
    pub(super) async fn moving<T, F>(&self, caller: &Caller, movement: F) -> Result<T, BillingError>
    where
        F: FnOnce(&mut PgConnection, &Mover) -> Result<T, BillingError> + Send + 'static,
        T: Send + 'static,
    {
        let mover = Mover {
            actor: caller.actor(),
            audit: Arc::clone(&self.with.audit),
            writer: self.writer.clone(),
        };
        let done = self
            .db
            .run(move |conn| conn.transaction(|conn| movement(conn, &mover)))
            .await?;
        self.reload_funds().await?;
        Ok(done)
    }

    /// The organization a money movement is for, once the caller may adjust billing there.
    pub(super) async fn adjusting(
        &self,
        caller: &Caller,
        organization: &str,
    ) -> Result<Uuid, BillingError> {
        let place = self
            .authorized(caller, BILLING_ADJUST, Target::org(organization))
            .await?;
        Ok(place.org()?.id)
    }

    pub(super) async fn journal_entry(&self, id: Uuid) -> Result<JournalView, BillingError> {
        self.db
            .run(move |conn| {
                ledger_reads::entry(conn, id)?
                    .ok_or_else(|| BillingError::NotFound(format!("no journal transaction {id}")))
            })
            .await
    }
}

fn checked(credit: &Credit) -> Result<Decimal, BillingError> {
    check_reason(&credit.reason)?;
    check_credit(credit.amount_minor).map_err(|reason| BillingError::Invalid {
        field: "amount_minor",
        reason,
    })
}

pub(super) fn check_reason(reason: &str) -> Result<(), BillingError> {
    let count = reason.trim().chars().count();
    if reason.chars().any(char::is_control) || !(1..=MAX_REASON).contains(&count) {
        return Err(BillingError::Invalid {
            field: "reason",
            reason: format!("must be 1 to {MAX_REASON} characters, no control characters"),
        });
    }
    Ok(())
}

/// Prepaid +amount, payments clearing −amount.
fn top_up_on(
    conn: &mut PgConnection,
    mover: &Mover,
    org: Uuid,
    amount: Decimal,
    reason: &str,
) -> Result<Uuid, BillingError> {
    let now = mover.writer.clock.now();
    lock_organizations(conn, &[org])?;
    let currency = mover.writer.currency.clone();
    let mut entry = JournalRow::new(
        Some(org),
        "topup",
        ("operator", mover.actor.id.clone()),
        mover.actor.id.clone(),
        now,
    );
    entry.reason = Some(reason.trim().to_owned());
    let id = mover.writer.receive(conn, entry, org, amount)?;
    audited(
        conn,
        mover,
        org,
        id,
        json!({ "kind": "topup", "amount_minor": amount.to_string(), "currency": currency, "reason": reason }),
    )?;
    mover.writer.settle_state(conn, org, Some(id))?;
    Ok(id)
}

/// Promotional +amount on a new lot, grants −amount.
fn grant_on(
    conn: &mut PgConnection,
    mover: &Mover,
    org: Uuid,
    amount: Decimal,
    grant: &NewGrant,
) -> Result<Uuid, BillingError> {
    let now = mover.writer.clock.now();
    lock_organizations(conn, &[org])?;
    let currency = mover.writer.currency.clone();
    let lot = Uuid::now_v7();
    let mut entry = JournalRow::new(
        Some(org),
        "grant",
        ("grant", lot.to_string()),
        mover.actor.id.clone(),
        now,
    );
    let reason = grant.credit.reason.trim().to_owned();
    entry.reason = Some(reason.clone());
    let id = entry.id;
    let legs = [
        mover.writer.leg(
            id,
            mover.writer.account(conn, Some(org), "promotional")?,
            Some(lot),
            amount,
        ),
        mover.writer.leg(
            id,
            mover.writer.account(conn, None, "grants")?,
            None,
            -amount,
        ),
    ];
    diesel::insert_into(super::super::schema::journal::table)
        .values(&entry)
        .execute(conn)?;
    diesel::insert_into(grants::table)
        .values(GrantRow {
            id: lot,
            organization_id: org,
            currency: currency.clone(),
            amount_minor: amount,
            priority: grant.priority,
            expires_at: grant.expires_at,
            reason: reason.clone(),
            journal_id: id,
            created_at: now,
        })
        .execute(conn)?;
    post(conn, &[], &legs)?;
    let expires = grant.expires_at.map(|at| at.to_string());
    audited(
        conn,
        mover,
        org,
        id,
        json!({ "kind": "grant", "grant_id": lot, "amount_minor": amount.to_string(), "currency": currency, "priority": grant.priority, "expires_at": expires, "reason": reason }),
    )?;
    mover.writer.settle_state(conn, org, Some(id))?;
    Ok(id)
}

fn credit_line_on(
    conn: &mut PgConnection,
    mover: &Mover,
    org: Uuid,
    limit: Decimal,
    reason: &str,
) -> Result<(), BillingError> {
    let now: OffsetDateTime = mover.writer.clock.now();
    lock_organizations(conn, &[org])?;
    let currency = mover.writer.currency.clone();
    diesel::insert_into(credit_lines::table)
        .values((
            credit_lines::id.eq(Uuid::now_v7()),
            credit_lines::organization_id.eq(org),
            credit_lines::currency.eq(&currency),
            credit_lines::limit_minor.eq(limit),
            credit_lines::reason.eq(reason.trim()),
            credit_lines::set_by.eq(&mover.actor.id),
            credit_lines::set_at.eq(now),
        ))
        .execute(conn)?;
    let mut event = NewEvent::new(
        mover.actor.clone(),
        "platform.billing.credit_line_set",
        "organization",
        &org.to_string(),
    );
    event.organization_id = Some(org);
    event.details =
        json!({ "limit_minor": limit.to_string(), "currency": currency, "reason": reason });
    mover.audit.append_in(conn, event)?;
    mover.writer.settle_state(conn, org, None)?;
    notify_funds(conn)?;
    Ok(())
}

pub(super) fn audited(
    conn: &mut PgConnection,
    mover: &Mover,
    org: Uuid,
    journal_id: Uuid,
    details: serde_json::Value,
) -> Result<(), BillingError> {
    let mut event = NewEvent::new(
        mover.actor.clone(),
        "platform.billing.adjustment_posted",
        "ledger_entry",
        &journal_id.to_string(),
    );
    event.organization_id = Some(org);
    event.details = details;
    mover.audit.append_in(conn, event)?;
    Ok(())
}
