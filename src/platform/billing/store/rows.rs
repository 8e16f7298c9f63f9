//! Rows as diesel reads and writes them.

use diesel::prelude::*;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::PriceView;
use super::super::schema::{
    accounts, balance_states, grants, journal, payments, postings, prices, ratings, usage_events,
};

#[derive(Insertable)]
#[diesel(table_name = usage_events)]
pub struct UsageRow<'a> {
    pub id: Uuid,
    pub product: &'a str,
    pub event_id: &'a str,
    pub unit: &'a str,
    pub quantity: Decimal,
    pub organization_id: Uuid,
    pub department_id: Uuid,
    pub project_id: Uuid,
    pub actor_kind: &'static str,
    pub actor_id: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub usage_source: &'a str,
    pub occurred_at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    pub correlation_id: Option<&'a str>,
    pub attributes: serde_json::Value,
    pub batch_id: Uuid,
}

#[derive(Insertable)]
#[diesel(table_name = ratings)]
pub struct RatingRow {
    pub usage_id: Uuid,
    pub price_id: Uuid,
    pub price_version: i32,
    pub currency: String,
    pub unit_price_minor: Decimal,
    pub amount_minor: Decimal,
    pub journal_id: Option<Uuid>,
    pub rated_at: OffsetDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = journal)]
pub struct JournalRow {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub kind: &'static str,
    pub source_type: &'static str,
    pub source_id: String,
    pub corrects: Option<Uuid>,
    pub reason: Option<String>,
    pub actor: String,
    pub correlation_id: Option<String>,
    pub created_at: OffsetDateTime,
}

impl JournalRow {
    /// A transaction made now by `actor`, carrying the request's correlation id.
    pub fn new(
        organization: Option<Uuid>,
        kind: &'static str,
        source: (&'static str, String),
        actor: String,
        now: OffsetDateTime,
    ) -> JournalRow {
        let correlation_id = crate::base::context::current()
            .map(|c| c.correlation_id)
            .filter(|id| !id.is_empty());
        JournalRow {
            id: Uuid::now_v7(),
            organization_id: organization,
            kind,
            source_type: source.0,
            source_id: source.1,
            corrects: None,
            reason: None,
            actor,
            correlation_id,
            created_at: now,
        }
    }
}

#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = postings)]
pub struct PostingRow {
    pub journal_id: Uuid,
    pub account_id: Uuid,
    pub currency: String,
    pub grant_id: Option<Uuid>,
    pub amount_minor: Decimal,
}

#[derive(Insertable)]
#[diesel(table_name = accounts)]
pub struct AccountRow<'a> {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub kind: &'a str,
    pub currency: &'a str,
    pub created_at: OffsetDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub currency: String,
    pub amount_minor: Decimal,
    pub priority: i32,
    pub expires_at: Option<OffsetDateTime>,
    pub reason: String,
    pub journal_id: Uuid,
    pub created_at: OffsetDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = balance_states)]
pub struct StateRow {
    pub organization_id: Uuid,
    pub currency: String,
    pub state: &'static str,
    pub available_minor: Decimal,
    pub journal_id: Option<Uuid>,
    pub at: OffsetDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = payments)]
pub struct PaymentRow<'a> {
    pub id: Uuid,
    pub provider: &'static str,
    pub provider_event_id: &'a str,
    pub event_type: &'a str,
    pub organization_id: Option<Uuid>,
    pub amount_minor: Option<Decimal>,
    pub currency: Option<&'a str>,
    pub status: &'static str,
    pub reason: Option<&'a str>,
    pub journal_id: Option<Uuid>,
    pub received_at: OffsetDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = prices)]
pub struct PriceRow {
    pub id: Uuid,
    pub product: String,
    pub unit: String,
    pub resource_type: String,
    pub resource_id: String,
    pub currency: String,
    pub unit_price_minor: Decimal,
    pub effective_from: OffsetDateTime,
    pub effective_to: Option<OffsetDateTime>,
    pub version: i32,
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

impl From<PriceRow> for PriceView {
    fn from(r: PriceRow) -> PriceView {
        PriceView {
            id: r.id,
            product: r.product,
            unit: r.unit,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            currency: r.currency,
            unit_price_minor: r.unit_price_minor.normalize(),
            effective_from: r.effective_from,
            effective_to: r.effective_to,
            version: r.version,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}
