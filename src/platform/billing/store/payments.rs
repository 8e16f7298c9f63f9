//! `Payments`: the card processor's webhook. A verified event is recorded once per
//! provider event id; a completed payment for a known organization is credited in the
//! same transaction as its record, with the balance-state move it causes and an outbox
//! event.
//!
//! Once, also under concurrent deliveries: a credit first takes its organization's lock
//! (so deliveries of one event queue there) and looks for the event's row; the unique
//! `(provider, provider_event_id)` and the journal's `journal_once` refuse what gets past
//! that, and such a refusal is answered as the redelivery it is.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::payments::{Notice, Verdict};
use super::super::schema::payments;
use super::super::{BillingError, PaymentReceipt, PaymentStatus, Payments, stripe};
use super::posting::Writer;
use super::rows::{JournalRow, PaymentRow};
use super::{PgBilling, lock_organizations};
use crate::base::db::DbError;
use crate::platform::events::Message;
use crate::platform::iam::OrganizationId;

/// The only processor so far.
const STRIPE: &str = "stripe";
/// Announced with every credit.
const PAYMENT_CREDITED: &str = "platform.billing.payment_credited";

#[async_trait::async_trait]
impl Payments for PgBilling {
    async fn stripe_event(
        &self,
        signature: Option<&[u8]>,
        body: &[u8],
    ) -> Result<PaymentReceipt, BillingError> {
        let secret = self.settings.stripe_webhook_secret.as_bytes();
        if secret.is_empty() {
            // As if the route did not exist: nothing here takes payments.
            return Err(BillingError::NotFound(
                "no Stripe webhook is configured on this server".into(),
            ));
        }
        let now = self.with.clock.now();
        let tolerance = self.settings.stripe_tolerance_secs;
        stripe::verify(secret, signature, body, now.unix_timestamp(), tolerance)
            .map_err(|refusal| BillingError::Unverified(refusal.to_string()))?;
        let mut notice = Notice::read(body, &self.settings.currency)?;
        self.place(&mut notice).await?;
        let writer = self.writer.clone();
        let receipt = self
            .db
            .run(move |conn| record_on(conn, &writer, &notice, now))
            .await?;
        if receipt.status == PaymentStatus::Credited && !receipt.duplicate {
            // The credit is committed and every process hears of it by NOTIFY; failing the
            // delivery now would only make the processor send it again.
            if let Err(err) = self.reload_funds().await {
                log::warn!(
                    "funds not reloaded after payment {}: {err}",
                    receipt.event_id
                );
            }
        }
        Ok(receipt)
    }
}

impl PgBilling {
    /// A credit is only for an organization IAM has; any other is unmatched. Asked before
    /// billing takes a connection, so no connection waits on another module's.
    async fn place(&self, notice: &mut Notice) -> Result<(), BillingError> {
        if let Verdict::Credit { organization, .. } = notice.verdict {
            let found = self
                .with
                .tenancy
                .organization_by_id(OrganizationId(organization))
                .await?;
            if found.is_none() {
                notice.verdict = Verdict::Unmatched(format!("no organization {organization}"));
            }
        }
        Ok(())
    }
}

/// Records `notice` in one transaction, or answers what its earlier delivery recorded.
fn record_on(
    conn: &mut PgConnection,
    writer: &Writer,
    notice: &Notice,
    now: OffsetDateTime,
) -> Result<PaymentReceipt, BillingError> {
    let attempt = conn.transaction(|conn| {
        if let Verdict::Credit { organization, .. } = notice.verdict {
            lock_organizations(conn, &[organization])?;
        }
        if let Some(earlier) = recorded(conn, &notice.event_id)? {
            return Ok(earlier);
        }
        let journal_id = match notice.verdict {
            Verdict::Credit {
                organization,
                amount,
            } => Some(credit_on(conn, writer, notice, organization, amount, now)?),
            Verdict::Ignore(_) | Verdict::Unmatched(_) => None,
        };
        insert(conn, notice, journal_id, now)
    });
    match attempt {
        // A concurrent delivery of the same event committed first.
        Err(BillingError::Db(DbError::Conflict { constraint })) => {
            recorded(conn, &notice.event_id)?
                .ok_or(BillingError::Db(DbError::Conflict { constraint }))
        }
        other => other,
    }
}

/// Prepaid +amount, payments clearing −amount, the balance state after it, and the
/// announcement; the journal transaction's source is the event, so it credits once.
fn credit_on(
    conn: &mut PgConnection,
    writer: &Writer,
    notice: &Notice,
    org: Uuid,
    amount: rust_decimal::Decimal,
    now: OffsetDateTime,
) -> Result<Uuid, BillingError> {
    let source = ("payment", notice.event_id.clone());
    let mut entry = JournalRow::new(Some(org), "payment", source, STRIPE.into(), now);
    entry.reason = Some(format!("card payment, Stripe event {}", notice.event_id));
    let journal_id = writer.receive(conn, entry, org, amount)?;
    writer.settle_state(conn, org, Some(journal_id))?;
    let payload = json!({
        "provider": STRIPE,
        "provider_event_id": notice.event_id,
        "organization_id": org,
        "currency": writer.currency,
        "amount_minor": amount.to_string(),
        "journal_id": journal_id,
    });
    writer
        .events
        .publish_in(conn, Message::new(PAYMENT_CREDITED, payload))
        .map_err(|err| {
            BillingError::Unavailable(format!("announcing {PAYMENT_CREDITED}: {err}"))
        })?;
    Ok(journal_id)
}

/// The event's row; a credit names its journal transaction.
fn insert(
    conn: &mut PgConnection,
    notice: &Notice,
    journal_id: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<PaymentReceipt, BillingError> {
    let (status, reason) = notice.status();
    diesel::insert_into(payments::table)
        .values(PaymentRow {
            id: Uuid::now_v7(),
            provider: STRIPE,
            provider_event_id: &notice.event_id,
            event_type: &notice.event_type,
            organization_id: notice.organization,
            amount_minor: notice.amount_minor,
            currency: notice.currency.as_deref(),
            status: status.as_str(),
            reason,
            journal_id,
            received_at: now,
        })
        .execute(conn)?;
    Ok(PaymentReceipt {
        event_id: notice.event_id.clone(),
        status,
        duplicate: false,
        reason: reason.map(str::to_owned),
        journal_id,
    })
}

/// What the first delivery of `event_id` recorded, as the answer to a redelivery.
fn recorded(conn: &mut PgConnection, event_id: &str) -> QueryResult<Option<PaymentReceipt>> {
    let row: Option<(String, Option<String>, Option<Uuid>)> = payments::table
        .filter(payments::provider.eq(STRIPE))
        .filter(payments::provider_event_id.eq(event_id))
        .select((payments::status, payments::reason, payments::journal_id))
        .first(conn)
        .optional()?;
    Ok(row.map(|(status, reason, journal_id)| PaymentReceipt {
        event_id: event_id.to_owned(),
        status: PaymentStatus::parse(&status),
        duplicate: true,
        reason,
        journal_id,
    }))
}
