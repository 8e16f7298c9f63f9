//! `PgBilling`: billing over PostgreSQL schema `billing`, with the price book and every
//! organization's funds held in memory for the spend guard.

mod bulk;
mod capture;
mod credits;
mod expiry;
mod funds_load;
mod groups;
pub mod ingest;
mod ledger_reads;
mod metering;
mod payments;
mod poster;
pub mod posting;
mod prices;
mod quota_feed;
pub mod rating;
mod reconcile;
mod refunds;
mod rerate;
mod rows;
mod statements;

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use rust_decimal::Decimal;

use super::BillingError;
use super::funds::Funds;
use super::guard::{Guard, Spending};
use super::prices::PriceBook;
use crate::base::clock::Clock;
use crate::base::config::BillingSettings;
use crate::base::db::Db;
use crate::base::db::snapshot::{Freshness, Snapshot};
use crate::platform::audit::Audit;
use crate::platform::events::Events;
use crate::platform::iam::{Access, Caller, Place, Target, Tenancy};
use crate::platform::registry::Registry;

/// Notified by every transaction that posts to the ledger or sets a credit line.
const FUNDS_CHANNEL: &str = "billing_funds_changed";
/// Notified by every new price version.
const PRICES_CHANNEL: &str = "billing_prices_changed";

/// Funds are seen by every process within a second of a posting.
const FUNDS_FRESHNESS: Freshness = Freshness {
    channel: FUNDS_CHANNEL,
    poll: Duration::from_millis(200),
    resync: Duration::from_secs(30),
};

const PRICES_FRESHNESS: Freshness = Freshness {
    channel: PRICES_CHANNEL,
    poll: Duration::from_millis(200),
    resync: Duration::from_secs(60),
};

/// The modules billing works through.
#[derive(Clone)]
pub struct Collaborators {
    /// Authorizes every call.
    pub access: Arc<dyn Access>,
    /// Places the projects usage names.
    pub tenancy: Arc<dyn Tenancy>,
    /// Audits every money movement a person makes, in its transaction.
    pub audit: Arc<dyn Audit>,
    /// Announces balance-state transitions, in their transaction.
    pub events: Arc<dyn Events>,
    /// Units, resource types and products must be active here.
    pub registry: Arc<dyn Registry>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

/// Billing backed by PostgreSQL.
pub struct PgBilling {
    db: Db,
    with: Collaborators,
    settings: BillingSettings,
    prices: Snapshot<PriceBook>,
    funds: Snapshot<Funds>,
    guard: Guard,
    writer: posting::Writer,
    /// Captures, rates and posts (`ingest`).
    committer: groups::Committer,
    /// Captures only; the poster rates and posts (`capture`).
    capturer: groups::Committer,
}

impl PgBilling {
    /// Loads prices and funds, keeps them fresh from `url`'s notifications, and starts the
    /// group committer.
    pub async fn start(
        db: Db,
        url: String,
        with: Collaborators,
        settings: BillingSettings,
    ) -> Result<PgBilling, BillingError> {
        let prices = Snapshot::start(db.clone(), url.clone(), PRICES_FRESHNESS, |conn| {
            Ok(PriceBook::new(prices::all(conn, None)?))
        })
        .await?;
        let spending = Arc::new(Spending::default());
        let unseen = Arc::clone(&spending);
        let currency = settings.currency.clone();
        let funds = Snapshot::start(db.clone(), url, FUNDS_FRESHNESS, move |conn| {
            Ok(funds_load::load_snapshot(conn, &currency, unseen.as_ref())?)
        })
        .await?;
        let guard = Guard::new(
            funds.clone(),
            prices.clone(),
            Arc::clone(&with.clock),
            settings.currency.clone(),
            spending,
        );
        let writer = posting::Writer {
            events: Arc::clone(&with.events),
            clock: Arc::clone(&with.clock),
            currency: settings.currency.clone(),
            low_balance: Decimal::from(settings.low_balance_minor),
            known_accounts: Arc::default(),
        };
        let posted = Arc::new(tokio::sync::Notify::new());
        let (committer, capturer) = committers(&db, &writer, &guard, &prices, &settings, &posted);
        tokio::spawn(poster::supervise(db.clone(), writer.clone(), posted));
        Ok(PgBilling {
            db,
            with,
            settings,
            prices,
            funds,
            guard,
            writer,
            committer,
            capturer,
        })
    }

    /// The spend guard over this billing's funds.
    pub fn guard(&self) -> Guard {
        self.guard.clone()
    }

    /// Stops the snapshots' listeners (at shutdown).
    pub fn stop(&self) {
        self.prices.stop();
        self.funds.stop();
    }

    /// Authorizes `caller` for `scope` at `target` through IAM.
    async fn authorized(
        &self,
        caller: &Caller,
        scope: &str,
        target: Target,
    ) -> Result<Place, BillingError> {
        Ok(self.with.access.authorize(caller, scope, target).await?)
    }

    /// This process sees its own credit at once; others through NOTIFY.
    async fn reload_funds(&self) -> Result<(), BillingError> {
        Ok(self.funds.reload().await?)
    }
}

/// The two group committers: one writing the ledger in the capture's transaction, one
/// capturing only and waking the poster (`wake`) after each commit.
fn committers(
    db: &Db,
    writer: &posting::Writer,
    guard: &Guard,
    prices: &Snapshot<PriceBook>,
    settings: &BillingSettings,
    wake: &Arc<tokio::sync::Notify>,
) -> (groups::Committer, groups::Committer) {
    let ledger: groups::WriteGroup = {
        let writer = writer.clone();
        let guard = guard.clone();
        Arc::new(move |conn, events| {
            groups::committing(conn, &guard, |conn| {
                ingest::write_group(conn, &writer, events)
            })
        })
    };
    let capturing: groups::WriteGroup = {
        let (writer, prices, guard) = (writer.clone(), prices.clone(), guard.clone());
        Arc::new(move |conn, events| capture::write(conn, &guard, &writer, &prices.get(), events))
    };
    let start = |write, writers, wake| {
        groups::Committer::start(db.clone(), (settings, writers), write, wake)
    };
    (
        start(ledger, settings.group_writers, None),
        start(capturing, settings.capture_writers, Some(Arc::clone(wake))),
    )
}

/// Wakes every process's funds snapshot when the transaction commits.
fn notify_funds(conn: &mut PgConnection) -> QueryResult<()> {
    notify(conn, FUNDS_CHANNEL)
}

fn notify(conn: &mut PgConnection, channel: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, '')")
        .bind::<diesel::sql_types::Text, _>(channel)
        .execute(conn)
        .map(|_| ())
}

/// Serializes writers of one organization's funds across processes, until commit. Callers
/// lock in ascending order, so two transactions never wait on each other in a circle.
fn lock_organizations(conn: &mut PgConnection, orgs: &[uuid::Uuid]) -> QueryResult<()> {
    let mut keys: Vec<i64> = orgs.iter().map(|org| advisory_key(*org)).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(key)
            .execute(conn)?;
    }
    Ok(())
}

/// A lock key for an organization's funds: its id's low 64 bits, tagged so it cannot meet
/// another module's advisory locks on the same id by chance.
fn advisory_key(org: uuid::Uuid) -> i64 {
    const BILLING_TAG: u64 = 0xB111_0000_0000_0000;
    ((org.as_u128() as u64 & 0x0000_FFFF_FFFF_FFFF) | BILLING_TAG) as i64
}
