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
//! - top-ups, grants, credit lines and card payments are whole minor units.
//!
//! # Card payments
//! A processor's signed webhook ([`Payments`], Stripe's format in [`stripe`]) credits the
//! prepaid balance of the organization a completed checkout names, once per provider
//! event id; what billing cannot place is recorded `unmatched` for an operator, never
//! credited by guess. Until the secrets module holds it, the signing secret is
//! `billing.stripe_webhook_secret`; while it is empty the webhook answers 404.
//!
//! # Consumption order
//! Usage draws on promotional lots first (highest priority, then soonest expiry, then
//! oldest), then on the prepaid balance, which may go below zero by the organization's
//! credit line. Value left in a lot at its expiry stops counting at that instant and is
//! posted back to the platform's grants account as an expiry entry.

mod adjust;
pub mod api;
mod chart;
pub mod cli;
mod cli_books;
mod funds;
mod guard;
pub mod money;
pub mod pages;
mod payments;
mod prices;
mod schema;
pub mod statement;
pub mod store;
pub mod stripe;
mod usage;
mod views;

use time::OffsetDateTime;
use uuid::Uuid;

pub use adjust::{Period, Refund, RefundOf};
pub use funds::BalanceState;
pub use guard::{Hold, SpendRefusal};
pub use payments::{PaymentReceipt, PaymentStatus, StripeEvent, StripeEventData};
pub use prices::{NewPrice, PriceView};
pub use statement::{DailyUsage, Movement, Reconciliation, Statement, UsageLine, Violation};
pub use store::PgBilling;
pub use usage::{Estimate, IngestOutcome, Outcome, UsageActor, UsageActorKind, UsageEvent};
pub use views::{
    Balance, GrantView, JournalView, PostingView, RatedPreview, UnratedUsage, UsageTotal,
};

use crate::base::db::DbError;
use crate::kit::error::ApiError;
use crate::platform::audit::AuditError;
use crate::platform::iam::{Caller, IamError, OrganizationId, ProjectId};

/// The kinds of journal transaction.
pub const JOURNAL_KINDS: [&str; 7] = [
    "usage",
    "topup",
    "grant",
    "expiry",
    "payment",
    "refund",
    "correction",
];

/// Scopes of the platform's packet that billing checks.
pub const BILLING_READ: &str = "platform.billing.read";
/// Submitting usage (product service accounts).
pub const USAGE_INGEST: &str = "platform.billing.usage_ingest";
/// Money movements by people: top-ups, grants, refunds, credit lines and prices.
pub const BILLING_ADJUST: &str = "platform.billing.adjust";

/// What products call: capture usage (rated and posted in the same transaction, or by the
/// poster just after), preview prices, read the quota feed.
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

    /// Captures a batch as `ingest` does (the same checks, outcomes and idempotency) and
    /// answers once it is committed, leaving rating and posting to billing's poster, which
    /// follows within moments and in batches. Until then the usage's cost, at the prices in
    /// memory, counts against this process's spend guard. For request paths that cannot
    /// wait for the ledger. Needs `platform.billing.usage_ingest`.
    async fn capture(
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

    /// Usage captured in `period` (by when it occurred) for an organization, summed per
    /// project, actor and unit: the quota feed policy reads instead of billing's tables
    /// (each group commit also announces what it added, `platform.billing.usage_recorded`).
    /// Needs `platform.billing.read` in the organization.
    async fn usage_totals(
        &self,
        caller: &Caller,
        organization: &str,
        period: Period,
    ) -> Result<Vec<UsageTotal>, BillingError>;

    /// Rates accepted events that no price covered when captured and one covers now (at
    /// the price in effect when each occurred), and posts them; returns how many were
    /// rated (at most 5,000 a call). Needs `platform.billing.adjust`; audited.
    async fn rate_unrated(&self, caller: &Caller) -> Result<usize, BillingError>;

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

    /// Journal transactions with their postings, newest first, before `before` (a seq),
    /// optionally of one kind (usage, topup, grant, expiry, payment, refund, correction).
    /// An organization's own for tenants; the whole ledger needs platform scope.
    async fn journal(
        &self,
        caller: &Caller,
        organization: Option<&str>,
        kind: Option<&str>,
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

/// Statements and reconciliation.
#[async_trait::async_trait]
pub trait Statements: Send + Sync {
    /// An organization's month from its ledger. Needs `platform.billing.read` in it.
    async fn statement(
        &self,
        caller: &Caller,
        organization: &str,
        period: Period,
    ) -> Result<Statement, BillingError>;

    /// What each day's usage of each resource cost, for the last `days` days (1 to 366).
    /// Needs `platform.billing.read` in the organization.
    async fn daily_usage(
        &self,
        caller: &Caller,
        organization: &str,
        days: u16,
    ) -> Result<Vec<DailyUsage>, BillingError>;

    /// Checks every invariant of the ledger; an empty list of violations means it holds.
    /// Needs `platform.billing.read` at platform scope.
    async fn reconcile(&self, caller: &Caller) -> Result<Reconciliation, BillingError>;
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

/// Money received through a card processor, announced by its signed webhook.
#[async_trait::async_trait]
pub trait Payments: Send + Sync {
    /// Takes one delivery of the Stripe webhook: `signature` is its `Stripe-Signature`
    /// header (`None` when absent), `body` the exact bytes that were signed. There is no
    /// caller to authorize: the signature, verified here against the configured secret
    /// and tolerance, is what admits it ([`stripe::verify`]); refused, nothing is written.
    /// A verified event is recorded once per event id, a completed payment credited once
    /// (the rules are in `payments.rs`); a redelivery, also a concurrent one, answers
    /// what the first recorded and writes nothing. `NotFound` while no secret is set.
    async fn stripe_event(
        &self,
        signature: Option<&[u8]>,
        body: &[u8],
    ) -> Result<PaymentReceipt, BillingError>;
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
    /// A webhook delivery whose signature does not verify: 400, nothing written.
    #[error("{0}")]
    Unverified(String),
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
            BillingError::Unverified(detail) => ApiError::MalformedBody(detail),
            BillingError::Unavailable(detail) => ApiError::from(DbError::Unavailable(detail)),
            BillingError::Audit(audit) => audit.into(),
            BillingError::Iam(iam) => iam.into(),
            BillingError::Db(db) => db.into(),
        }
    }
}
