//! Payments received through a card processor: what a verified Stripe event says, read
//! into what billing records of it.
//!
//! Billing acts on `checkout.session.completed` with `payment_status` `paid`: the
//! session's `metadata.organization_id` (set by whoever created the session) names the
//! organization, `amount_total` (whole minor units) and `currency` (lowercase in Stripe) the
//! money. Such a payment is credited when the organization exists and the currency is the
//! billing currency; otherwise it is `unmatched` and waits for an operator, since Stripe
//! has taken the money. Every other event is recorded as `ignored`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::BillingError;
use super::money::{MAX_CREDIT_MINOR, check_currency};

/// Longest provider event id, in characters (the journal's `source_id` carries it).
pub const MAX_EVENT_ID: usize = 200;
/// Longest event type, in characters.
pub const MAX_EVENT_TYPE: usize = 255;
/// The one event type that credits.
const CHECKOUT_COMPLETED: &str = "checkout.session.completed";
/// Most characters of a processor's value a reason quotes.
const QUOTED: usize = 40;

/// A Stripe event as its webhook delivers it. Only these fields are read; the rest of the
/// body is ignored (but signed with them).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StripeEvent {
    /// Stripe's event id (`evt_...`), the same on every redelivery: the idempotency key.
    #[schema(min_length = 1, max_length = 200)]
    pub id: String,
    /// Event type; `checkout.session.completed` may credit, the rest is recorded as ignored.
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 255)]
    pub event_type: String,
    /// What the event is about.
    pub data: StripeEventData,
}

/// The `data` of a Stripe event.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StripeEventData {
    /// The event's object; of a Checkout Session billing reads `payment_status`,
    /// `amount_total`, `currency` and `metadata.organization_id`.
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// What became of a processor's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// A completed payment credited to its organization's prepaid balance.
    Credited,
    /// Not a payment billing acts on.
    Ignored,
    /// A payment billing could not place (unknown organization, another currency…):
    /// recorded with why, not credited; an operator settles it.
    Unmatched,
}

impl PaymentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Credited => "credited",
            PaymentStatus::Ignored => "ignored",
            PaymentStatus::Unmatched => "unmatched",
        }
    }

    /// From the stored name (the database allows only these three).
    pub fn parse(s: &str) -> PaymentStatus {
        match s {
            "credited" => PaymentStatus::Credited,
            "ignored" => PaymentStatus::Ignored,
            _ => PaymentStatus::Unmatched,
        }
    }
}

/// The answer to a webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaymentReceipt {
    /// The processor's event id.
    pub event_id: String,
    /// What became of the event (on a redelivery: what became of it the first time).
    pub status: PaymentStatus,
    /// Whether the event had been recorded already, so this delivery wrote nothing.
    pub duplicate: bool,
    /// Why it was not credited.
    pub reason: Option<String>,
    /// The journal transaction of a credit.
    pub journal_id: Option<Uuid>,
}

/// A verified event, read: what to record, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The processor's event id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The organization it names, when it names one by id.
    pub organization: Option<Uuid>,
    /// The amount, when it is whole minor units within bounds.
    pub amount_minor: Option<Decimal>,
    /// The currency, uppercased, when it is an ISO 4217 code.
    pub currency: Option<String>,
    /// What to do.
    pub verdict: Verdict,
}

/// What to do with a verified event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Credit `amount` to the organization's prepaid balance.
    Credit {
        /// The organization.
        organization: Uuid,
        /// Whole minor units, at least 1.
        amount: Decimal,
    },
    /// Record it as ignored, with why.
    Ignore(String),
    /// Record it as unmatched, with why.
    Unmatched(String),
}

impl Notice {
    /// Reads a verified Stripe event's `body`, against the billing `currency`.
    pub fn read(body: &[u8], currency: &str) -> Result<Notice, BillingError> {
        let event: StripeEvent =
            serde_json::from_slice(body).map_err(|err| BillingError::Invalid {
                field: "body",
                reason: format!("is not a Stripe event: {err}"),
            })?;
        check_text("id", &event.id, MAX_EVENT_ID)?;
        check_text("type", &event.event_type, MAX_EVENT_TYPE)?;
        let session = &event.data.object;
        let text = |pointer: &str| session.pointer(pointer).and_then(serde_json::Value::as_str);
        let is_checkout = event.event_type == CHECKOUT_COMPLETED;
        let mut notice = Notice {
            event_id: event.id,
            organization: is_checkout
                .then(|| text("/metadata/organization_id"))
                .flatten()
                .and_then(|id| Uuid::parse_str(id).ok()),
            amount_minor: is_checkout
                .then(|| session.get("amount_total"))
                .flatten()
                .and_then(serde_json::Value::as_i64)
                .filter(|amount| (0..=MAX_CREDIT_MINOR).contains(amount))
                .map(Decimal::from),
            currency: is_checkout
                .then(|| text("/currency"))
                .flatten()
                .map(str::to_ascii_uppercase)
                .filter(|code| check_currency(code).is_ok()),
            verdict: Verdict::Ignore(format!(
                "billing does not act on `{}` events",
                event.event_type
            )),
            event_type: event.event_type,
        };
        if is_checkout {
            notice.verdict = notice.checkout(text("/payment_status"), currency);
        }
        Ok(notice)
    }

    /// A completed Checkout Session: credited only when paid, placed and in `currency`.
    fn checkout(&self, payment_status: Option<&str>, currency: &str) -> Verdict {
        if payment_status != Some("paid") {
            let status = payment_status.map_or("missing".to_owned(), quoted);
            return Verdict::Ignore(format!("payment_status is {status}, not paid"));
        }
        let Some(organization) = self.organization else {
            return Verdict::Unmatched(
                "metadata.organization_id is missing or not an organization id".into(),
            );
        };
        let amount = match self.amount_minor {
            Some(amount) if amount.is_zero() => {
                return Verdict::Ignore("amount_total is 0: nothing to credit".into());
            }
            Some(amount) => amount,
            None => {
                return Verdict::Unmatched(format!(
                    "amount_total is missing or not whole minor units from 0 to {MAX_CREDIT_MINOR}"
                ));
            }
        };
        match self.currency.as_deref() {
            Some(code) if code == currency => Verdict::Credit {
                organization,
                amount,
            },
            Some(code) => Verdict::Unmatched(format!(
                "currency {code} is not the billing currency {currency}"
            )),
            None => Verdict::Unmatched("currency is missing or not an ISO 4217 code".into()),
        }
    }

    /// What the stored row says of the verdict.
    pub fn status(&self) -> (PaymentStatus, Option<&str>) {
        match &self.verdict {
            Verdict::Credit { .. } => (PaymentStatus::Credited, None),
            Verdict::Ignore(why) => (PaymentStatus::Ignored, Some(why)),
            Verdict::Unmatched(why) => (PaymentStatus::Unmatched, Some(why)),
        }
    }
}

/// A processor's text, bounded and with control characters shown as `?`, for a reason.
fn quoted(text: &str) -> String {
    let shown: String = text
        .chars()
        .take(QUOTED)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!("`{shown}`")
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), BillingError> {
    let count = text.chars().count();
    if text.chars().any(char::is_control) || !(1..=max).contains(&count) {
        return Err(BillingError::Invalid {
            field,
            reason: format!("must be 1 to {max} characters, no control characters"),
        });
    }
    Ok(())
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const ORG: &str = "0190a000-0000-7000-8000-000000000001";

    fn checkout(session: Value) -> Value {
        json!({ "id": "evt_1", "type": CHECKOUT_COMPLETED, "data": { "object": session } })
    }

    fn paid() -> Value {
        json!({ "payment_status": "paid", "amount_total": 2500, "currency": "usd",
                "metadata": { "organization_id": ORG } })
    }

    fn read(event: &Value) -> Result<Notice, BillingError> {
        Notice::read(event.to_string().as_bytes(), "USD")
    }

    fn verdict(event: &Value) -> Verdict {
        read(event).expect("a notice").verdict
    }

    #[test]
    fn a_paid_checkout_in_the_billing_currency_credits_its_organization() {
        let notice = read(&checkout(paid())).expect("a notice");
        let org = Uuid::parse_str(ORG).expect("uuid");
        assert_eq!(
            notice.verdict,
            Verdict::Credit {
                organization: org,
                amount: Decimal::from(2500)
            }
        );
        assert_eq!(notice.currency.as_deref(), Some("USD"));
        assert_eq!(notice.status(), (PaymentStatus::Credited, None));
    }

    #[test]
    fn other_events_and_unpaid_sessions_are_ignored() {
        let refund = json!({ "id": "evt_2", "type": "charge.refunded", "data": { "object": {} } });
        let mut unpaid = paid();
        unpaid["payment_status"] = json!("unpaid");
        let mut free = paid();
        free["amount_total"] = json!(0);

        for (event, why) in [
            (refund, "billing does not act on `charge.refunded` events"),
            (checkout(unpaid), "payment_status is `unpaid`, not paid"),
            (checkout(json!({})), "payment_status is missing, not paid"),
            (checkout(free), "amount_total is 0: nothing to credit"),
        ] {
            assert_eq!(verdict(&event), Verdict::Ignore(why.into()), "{event}");
        }
    }

    #[test]
    fn a_paid_session_billing_cannot_place_is_unmatched() {
        let mut euro = paid();
        euro["currency"] = json!("eur");
        let mut no_org = paid();
        no_org["metadata"] = json!({ "organization_id": "acme" });
        let mut fractional = paid();
        fractional["amount_total"] = json!(12.5);
        let mut huge = paid();
        huge["amount_total"] = json!(MAX_CREDIT_MINOR + 1);

        for (session, why) in [
            (euro, "currency EUR is not the billing currency USD"),
            (
                no_org,
                "metadata.organization_id is missing or not an organization id",
            ),
            (
                fractional,
                "amount_total is missing or not whole minor units",
            ),
            (huge, "amount_total is missing or not whole minor units"),
        ] {
            let Verdict::Unmatched(reason) = verdict(&checkout(session.clone())) else {
                panic!("{session} should be unmatched");
            };
            assert!(reason.starts_with(why), "{reason}");
        }
    }

    #[test]
    fn an_event_id_or_type_out_of_bounds_is_refused() {
        let long = json!({ "id": "e".repeat(201), "type": "x", "data": { "object": {} } });
        let control = json!({ "id": "evt\u{7}", "type": "x", "data": { "object": {} } });
        let empty_type = json!({ "id": "evt_1", "type": "", "data": { "object": {} } });
        let not_an_event = json!({ "id": 5 });

        for (event, field) in [
            (long, "id"),
            (control, "id"),
            (empty_type, "type"),
            (not_an_event, "body"),
        ] {
            match read(&event) {
                Err(BillingError::Invalid { field: at, .. }) => assert_eq!(at, field, "{event}"),
                other => panic!("{event}: {other:?}"),
            }
        }
        assert!(Notice::read(b"not json", "USD").is_err());
    }

    #[test]
    fn a_quoted_value_is_bounded_and_shows_no_control_characters() {
        let mut odd = paid();
        odd["payment_status"] = json!(format!("a\u{0}{}", "b".repeat(100)));
        let Verdict::Ignore(reason) = verdict(&checkout(odd)) else {
            panic!("ignored");
        };
        assert!(reason.starts_with("payment_status is `a?bbb"), "{reason}");
        assert!(reason.len() < 80, "{reason}");
    }
}
