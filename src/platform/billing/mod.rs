//! Billing: usage capture, rating against versioned price books, a double-entry ledger of
//! immutable postings, prepaid and promotional credit, and the spend guard products call on
//! every request.
//!
//! Capture, rating and posting are separate steps ([`store::ingest`], [`store::rating`],
//! [`store::posting`]) that one group-committed transaction runs in order, so a balance
//! reflects usage the moment its batch is answered.
//!
//! # Money
//! Amounts are exact decimals in the currency's minor unit (cents for USD), never floats,
//! never summed across currencies:
//! - unit prices keep 12 fractional digits of a minor unit (a token at $0.15 per million
//!   is `0.000015` cents);
//! - a rated amount is `quantity × unit price`, rounded once, per event, to 9 fractional
//!   digits of a minor unit, ties to even ([`money::rate`]); nothing is rounded after that:
//!   postings, balances and statements add the rated amounts exactly;
//! - top-ups, grants and credit lines are whole minor units.
//!
//! # Consumption order
//! Usage draws on promotional lots first (highest priority, then soonest expiry, then
//! oldest), then on the prepaid balance, which may go below zero by the organization's
//! credit line. Value left in a lot at its expiry stops counting at that instant and is
//! posted back to the platform's grants account as an expiry entry.

pub mod api;
pub mod cli;
mod funds;
mod guard;
pub mod money;
mod prices;
mod schema;
pub mod store;
mod usage;

use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub use funds::BalanceState;
pub use guard::{Hold, SpendRefusal};
pub use prices::{NewPrice, PriceView};
pub use store::PgBilling;
pub use usage::{Estimate, IngestOutcome, Outcome, UsageActor, UsageActorKind, UsageEvent};

use crate::base::db::DbError;
use crate::kit::error::ApiError;
use crate::platform::audit::AuditError;
use crate::platform::iam::{Caller, IamError, OrganizationId, ProjectId};

/// Scopes of the platform's packet that billing checks.
pub const BILLING_READ: &str = "platform.billing.read";
/// Submitting usage (product service accounts).
pub const USAGE_INGEST: &str = "platform.billing.usage_ingest";
/// Money movements by people: top-ups, grants, refunds, credit lines and prices.
pub const BILLING_ADJUST: &str = "platform.billing.adjust";

/// What products call: capture usage (rated and posted in the same transaction).
#[async_trait::async_trait]
pub trait Metering: Send + Sync {
    /// Captures a batch: one outcome per event, in order. A rejected event writes nothing;
    /// an event id already captured for its product is a duplicate and charges nothing.
    /// Concurrent callers' batches share one transaction (group commit); each caller is
    /// answered when its group has committed. Needs `platform.billing.usage_ingest`.
    async fn ingest(
        &self,
        caller: &Caller,
        events: Vec<UsageEvent>,
    ) -> Result<Vec<IngestOutcome>, BillingError>;

    /// What the events would cost at today's price books, writing nothing (shadow rating).
    async fn preview(
        &self,
        caller: &Caller,
        events: Vec<UsageEvent>,
    ) -> Result<Vec<RatedPreview>, BillingError>;

    /// Accepted events no price covered, oldest first, after `after` (a usage id).
    async fn unrated(
        &self,
        caller: &Caller,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<UnratedUsage>, BillingError>;
}

/// Price books: versioned, audited, never edited.
#[async_trait::async_trait]
pub trait Pricing: Send + Sync {
    /// Adds the next version of a price. Needs `platform.billing.adjust` at platform scope.
    async fn set_price(&self, caller: &Caller, price: NewPrice) -> Result<PriceView, BillingError>;

    /// Every price version, optionally of one product. Needs `platform.billing.read`.
    async fn prices(
        &self,
        caller: &Caller,
        product: Option<String>,
    ) -> Result<Vec<PriceView>, BillingError>;
}

/// The ledger as people see and move it.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync {
    /// An organization's funds, derived from its postings. Needs `platform.billing.read` in
    /// the organization.
    async fn balance(&self, caller: &Caller, organization: &str) -> Result<Balance, BillingError>;

    /// Credits the prepaid balance with money received outside a payment processor.
    async fn top_up(
        &self,
        caller: &Caller,
        organization: &str,
        credit: Credit,
    ) -> Result<JournalView, BillingError>;

    /// Adds a promotional lot.
    async fn grant(
        &self,
        caller: &Caller,
        organization: &str,
        grant: NewGrant,
    ) -> Result<JournalView, BillingError>;

    /// Sets how far the prepaid balance may go below zero.
    async fn set_credit_line(
        &self,
        caller: &Caller,
        organization: &str,
        credit: Credit,
    ) -> Result<Balance, BillingError>;

    /// Journal transactions with their postings, newest first, before `before` (a seq).
    /// An organization's own for tenants; the whole ledger needs platform scope.
    async fn journal(
        &self,
        caller: &Caller,
        organization: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<JournalView>, BillingError>;
}

/// Corrections of the ledger: refunds, reversals and the expiry of promotional lots. Each
/// is a new journal transaction referencing what it corrects; nothing is edited.
#[async_trait::async_trait]
pub trait Adjustments: Send + Sync {
    /// Refunds (part of) a usage event's charge, a payment or top-up, or a month of usage;
    /// never more than was charged, however many refunds run at once. Needs
    /// `platform.billing.adjust`; audited.
    async fn refund(
        &self,
        caller: &Caller,
        organization: &str,
        refund: Refund,
    ) -> Result<JournalView, BillingError>;

    /// Reverses a top-up or grant posted in error (a correction linked to it, at most one).
    /// Usage is corrected by refunds, not reversals. Needs `platform.billing.adjust`.
    async fn reverse(
        &self,
        caller: &Caller,
        journal_id: Uuid,
        reason: &str,
    ) -> Result<JournalView, BillingError>;

    /// Posts the expiry of every promotional lot past its expiry with value left; returns
    /// how many. Run by the server periodically; safe to run anywhere, any number of times.
    async fn post_expiries(&self) -> Result<usize, BillingError>;
}

/// Posts due lot expiries every `interval`, on a task of its own, for the life of the
/// process; a failed run is logged and retried at the next.
pub fn post_expiries_periodically(
    adjustments: std::sync::Arc<dyn Adjustments>,
    interval: std::time::Duration,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match adjustments.post_expiries().await {
                Ok(0) => {}
                Ok(n) => log::info!("billing: posted the expiry of {n} promotional lots"),
                Err(err) => log::warn!("billing: posting lot expiries failed: {err}"),
            }
        }
    });
}

/// What a refund is of.
#[derive(Debug, Clone, PartialEq)]
pub enum RefundOf {
    /// One captured usage event (billing's usage id).
    UsageEvent(Uuid),
    /// A payment or top-up (its journal transaction): the money goes back out.
    Payment(Uuid),
    /// The organization's usage that occurred in a calendar month (UTC).
    Period(Period),
}

/// A refund to post.
#[derive(Debug, Clone)]
pub struct Refund {
    /// Of what.
    pub of: RefundOf,
    /// How much (minor units, at most 9 decimal places); `None` refunds all that is left.
    pub amount_minor: Option<Decimal>,
    /// Why.
    pub reason: String,
}

/// A calendar month, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Year.
    pub year: i32,
    /// Month.
    pub month: time::Month,
}

impl Period {
    /// From `YYYY-MM`.
    pub fn parse(text: &str) -> Result<Period, BillingError> {
        let invalid = || BillingError::Invalid {
            field: "period",
            reason: format!("`{text}` is not a month written YYYY-MM"),
        };
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u8 = month.parse().map_err(|_| invalid())?;
        if !(2000..=9999).contains(&year) || year_digits(text) != 4 {
            return Err(invalid());
        }
        let month = time::Month::try_from(month).map_err(|_| invalid())?;
        Ok(Period { year, month })
    }

    /// The first instant of the month and of the next one.
    pub fn bounds(self) -> (OffsetDateTime, OffsetDateTime) {
        let first = |year: i32, month: time::Month| {
            time::Date::from_calendar_date(year, month, 1)
                .map(|d| d.midnight().assume_utc())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let (next_year, next_month) = match self.month {
            time::Month::December => (self.year + 1, time::Month::January),
            month => (self.year, month.next()),
        };
        (first(self.year, self.month), first(next_year, next_month))
    }

    /// The month `at` falls in.
    pub fn of(at: OffsetDateTime) -> Period {
        Period {
            year: at.year(),
            month: at.month(),
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

fn year_digits(text: &str) -> usize {
    text.split('-').next().map_or(0, str::len)
}

/// Reservations against an organization's funds, answered from memory. Holds move no money
/// and vanish with their process; dropping a [`Hold`] releases it.
pub trait SpendGuard: Send + Sync {
    /// Holds the worst-case cost of `worst_case` (usage the request may produce, priced now)
    /// if the organization's available funds cover it.
    fn reserve(
        &self,
        organization: OrganizationId,
        project: ProjectId,
        worst_case: &[Estimate],
    ) -> Result<Hold, SpendRefusal>;

    /// Ends a hold once its actual usage has been ingested. An actual above the hold was
    /// charged in full by ingestion; here it is counted (`overruns`).
    fn settle(&self, hold: Hold, actual: &[Estimate]);

    /// Ends a hold that produced no usage.
    fn release(&self, hold: Hold);

    /// Settled holds whose actual cost exceeded them, since start.
    fn overruns(&self) -> u64;
}

/// An amount of money in whole minor units, with why.
#[derive(Debug, Clone)]
pub struct Credit {
    /// Minor units, e.g. cents.
    pub amount_minor: i64,
    /// Why, for the ledger and the audit trail.
    pub reason: String,
}

/// A promotional lot to add.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The amount and why.
    pub credit: Credit,
    /// Drawn before lots of lower priority (0..=1000).
    pub priority: i32,
    /// When what is left stops counting; `None` never.
    pub expires_at: Option<OffsetDateTime>,
}

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

/// Billing's failures.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// A field is out of bounds or malformed.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// Field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such thing (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// Refused by a rule (e.g. a refund above what was charged).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not.
    #[error("{0}")]
    Forbidden(String),
    /// Ingestion is not running (shutting down).
    #[error("billing is not accepting usage: {0}")]
    Unavailable(String),
    /// The change could not be audited.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// IAM refused or failed.
    #[error(transparent)]
    Iam(#[from] IamError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for BillingError {
    fn from(err: diesel::result::Error) -> BillingError {
        BillingError::Db(DbError::from(err))
    }
}

impl From<BillingError> for ApiError {
    fn from(err: BillingError) -> ApiError {
        match err {
            BillingError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            BillingError::NotFound(detail) => ApiError::NotFound(detail),
            BillingError::Conflict(detail) => ApiError::Conflict {
                detail,
                errors: Vec::new(),
            },
            BillingError::Forbidden(detail) => ApiError::Forbidden(detail),
            BillingError::Unavailable(detail) => ApiError::from(DbError::Unavailable(detail)),
            BillingError::Audit(audit) => audit.into(),
            BillingError::Iam(iam) => iam.into(),
            BillingError::Db(db) => db.into(),
        }
    }
}
