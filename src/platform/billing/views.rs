//! What billing answers with: balances, journal transactions, previews, unrated usage.

use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::BalanceState;

/// An organization's funds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// Organization id.
    pub organization_id: Uuid,
    /// ISO 4217 code.
    pub currency: String,
    /// Prepaid balance (below zero while the credit line is drawn).
    #[schema(value_type = String)]
    pub prepaid_minor: Decimal,
    /// Promotional credit still counting (unexpired lots).
    #[schema(value_type = String)]
    pub promotional_minor: Decimal,
    /// How far prepaid may go below zero.
    #[schema(value_type = String)]
    pub credit_line_minor: Decimal,
    /// prepaid + promotional + credit line.
    #[schema(value_type = String)]
    pub available_minor: Decimal,
    /// healthy, low_balance or depleted.
    pub state: BalanceState,
    /// Promotional lots with value left.
    pub grants: Vec<GrantView>,
}

/// A promotional lot.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantView {
    /// Grant id.
    pub id: Uuid,
    /// What was granted.
    #[schema(value_type = String)]
    pub amount_minor: Decimal,
    /// What is left.
    #[schema(value_type = String)]
    pub remaining_minor: Decimal,
    /// Drawn first when higher.
    pub priority: i32,
    /// When what is left stops counting.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Why it was granted.
    pub reason: String,
}

/// A journal transaction and its postings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JournalView {
    /// Transaction id.
    pub id: Uuid,
    /// Order of commit, for paging.
    pub seq: i64,
    /// The organization it concerns, if any.
    pub organization_id: Option<Uuid>,
    /// usage, topup, grant, expiry, payment, refund or correction.
    pub kind: String,
    /// What caused it: usage_batch, operator, grant, payment, usage_event or journal.
    pub source_type: String,
    /// Its id.
    pub source_id: String,
    /// The transaction this one corrects.
    pub corrects: Option<Uuid>,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub actor: String,
    /// Request it came from.
    pub correlation_id: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its legs; they sum to zero per currency.
    pub postings: Vec<PostingView>,
}

/// One leg of a journal transaction.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostingView {
    /// prepaid, promotional, revenue, grants, payments_clearing or refunds.
    pub account: String,
    /// The account's organization (none for platform accounts).
    pub organization_id: Option<Uuid>,
    /// ISO 4217 code.
    pub currency: String,
    /// The lot a promotional posting draws on or fills.
    pub grant_id: Option<Uuid>,
    /// Signed: positive raises the account's balance.
    #[schema(value_type = String)]
    pub amount_minor: Decimal,
}

/// What an event would cost (shadow rating).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RatedPreview {
    /// The event's id.
    pub event_id: String,
    /// The price version that would apply; none means it would be unrated.
    pub price_id: Option<Uuid>,
    /// ISO 4217 code.
    pub currency: String,
    /// Unit price used.
    #[schema(value_type = Option<String>)]
    pub unit_price_minor: Option<Decimal>,
    /// Rated amount.
    #[schema(value_type = Option<String>)]
    pub amount_minor: Option<Decimal>,
    /// Why it could not be rated, or was refused.
    pub problem: Option<String>,
}

/// Accepted usage no price covered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnratedUsage {
    /// Billing's id of the event.
    pub usage_id: Uuid,
    /// Product.
    pub product: String,
    /// The product's event id.
    pub event_id: String,
    /// Usage unit.
    pub unit: String,
    /// Quantity.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Resource type and id.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// Organization.
    pub organization_id: Uuid,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

/// Usage of one project, actor and unit in a month.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UsageTotal {
    /// Organization.
    pub organization_id: Uuid,
    /// Project.
    pub project_id: Uuid,
    /// api_key, service_account or user.
    pub actor_kind: String,
    /// Key prefix, service account id or user id.
    pub actor_id: String,
    /// Usage unit.
    pub unit: String,
    /// Total quantity.
    #[schema(value_type = String)]
    pub quantity: Decimal,
}
