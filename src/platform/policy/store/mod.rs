//! `PgPolicy`: the policy book in a NOTIFY-refreshed snapshot, the decision engine over it,
//! and the background work that keeps the engine's quota counters fed.

mod book_load;
mod decisions;
mod entitlements;
mod feed_reader;
mod overrides;
mod plans;
mod rows;
mod scopes;
mod thresholds;

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use super::PolicyError;
use super::book::Book;
use super::dimensions::RegistryDimensions;
use super::engine::{Engine, Signal};
use super::entitlements::RegistryEntitlements;
use crate::base::clock::Clock;
use crate::base::config::PolicySettings;
use crate::base::db::snapshot::{Freshness, Snapshot};
use crate::base::db::{Db, DbError};
use crate::platform::audit::{Actor, Audit};
use crate::platform::billing::Metering;
use crate::platform::events::Events;
use crate::platform::iam::{Access, Caller, Keys, Place, Target, Tenancy};
use crate::platform::registry::Registry;

/// The channel every policy change notifies on commit.
const CHANNEL: &str = "policy_changed";

/// Changes reach every process within a poll (the issue asks for a second).
const FRESHNESS: Freshness = Freshness {
    channel: CHANNEL,
    poll: Duration::from_millis(100),
    resync: Duration::from_secs(30),
};

/// The modules policy works with, through their traits.
#[derive(Clone)]
pub struct Collaborators {
    /// Authorization.
    pub access: Arc<dyn Access>,
    /// Tenancy: organizations, departments, projects (projects from memory).
    pub tenancy: Arc<dyn Tenancy>,
    /// Keys, for overrides and snapshots of one key.
    pub keys: Arc<dyn Keys>,
    /// Audit, in the same transaction as each change.
    pub audit: Arc<dyn Audit>,
    /// The outbox, for threshold events.
    pub events: Arc<dyn Events>,
    /// Dimensions, override scopes, products, resource types.
    pub registry: Arc<dyn Registry>,
    /// Billing's quota feed.
    pub metering: Arc<dyn Metering>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

/// Policy over PostgreSQL.
pub struct PgPolicy {
    db: Db,
    book: Snapshot<Book>,
    engine: Arc<Engine>,
    dimensions: RegistryDimensions,
    entitlements: RegistryEntitlements,
    with: Collaborators,
    signals: super::engine::Signals,
}

impl PgPolicy {
    /// Loads the book, starts keeping it fresh, reads every organization's quota feed
    /// once, and starts the background work (feed reads, threshold events).
    pub async fn start(
        db: Db,
        url: String,
        with: Collaborators,
        settings: PolicySettings,
    ) -> Result<PgPolicy, PolicyError> {
        let book = Snapshot::start(db.clone(), url, FRESHNESS, book_load::load).await?;
        let (signals, received) = tokio::sync::mpsc::unbounded_channel::<Signal>();
        let engine = Arc::new(Engine::new(
            u64::from(settings.warn_permille),
            Some(signals.clone()),
        ));
        let policy = PgPolicy {
            db: db.clone(),
            book,
            engine: Arc::clone(&engine),
            dimensions: RegistryDimensions::new(Arc::clone(&with.registry)),
            entitlements: RegistryEntitlements::new(Arc::clone(&with.registry)),
            with: with.clone(),
            signals: signals.clone(),
        };
        let reader = feed_reader::Reader::new(Arc::clone(&engine), with.clone());
        reader.read_all().await;
        let writer = thresholds::Writer::new(db, with.events.clone(), with.clock.clone());
        tokio::spawn(feed_reader::run(reader, writer, received));
        tokio::spawn(feed_reader::tick(
            Arc::clone(&engine),
            signals,
            Duration::from_secs(settings.quota_resync_secs.max(1)),
        ));
        Ok(policy)
    }

    /// Subscribes to billing's usage announcements, which trigger feed reads. Call before
    /// the relay starts.
    pub async fn subscribe(&self) -> Result<(), PolicyError> {
        let consumer = feed_reader::UsageRecorded {
            signals: self.signals.clone(),
        };
        self.with
            .events
            .subscribe(
                "policy.quota_feed",
                &[feed_reader::USAGE_RECORDED],
                Arc::new(consumer),
            )
            .await
            .map_err(|err| {
                PolicyError::Conflict(format!(
                    "subscribing to {}: {err}",
                    feed_reader::USAGE_RECORDED
                ))
            })
    }

    /// Stops the book's listener (at shutdown).
    pub fn stop(&self) {
        self.book.stop();
    }

    async fn authorized(
        &self,
        caller: &Caller,
        scope: &str,
        target: Target,
    ) -> Result<Place, PolicyError> {
        Ok(self.with.access.authorize(caller, scope, target).await?)
    }

    /// Whether the caller may write policy platform-wide (an operator): what it sets is
    /// imposed.
    async fn platform_authority(&self, caller: &Caller) -> bool {
        self.authorized(caller, super::POLICY_WRITE, Target::Platform)
            .await
            .is_ok()
    }

    /// The organization `slug` names once the caller may read policy there, or `None` (every
    /// organization) once the caller may read it platform-wide: how every list starts.
    async fn readable_org(
        &self,
        caller: &Caller,
        slug: Option<&str>,
    ) -> Result<Option<uuid::Uuid>, PolicyError> {
        let target = slug.map_or(Target::Platform, Target::org);
        let place = self.authorized(caller, super::POLICY_READ, target).await?;
        Ok(match slug {
            Some(_) => Some(place.org()?.id),
            None => None,
        })
    }

    /// Runs `write` (a sync function owning its transaction, audited as `caller`), then
    /// reloads the book so this process sees the change at once.
    async fn change<T, F>(&self, caller: &Caller, write: F) -> Result<T, PolicyError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection, &dyn Audit, Actor) -> Result<T, PolicyError> + Send + 'static,
    {
        let (audit, actor) = (self.with.audit.clone(), caller.actor());
        let done = self
            .db
            .run(move |conn| write(conn, audit.as_ref(), actor))
            .await?;
        self.reload().await?;
        Ok(done)
    }

    /// This process sees its own change at once; others through NOTIFY.
    async fn reload(&self) -> Result<(), PolicyError> {
        Ok(self.book.reload().await?)
    }
}

/// Holds the slot `key` names until the transaction ends, so writers at one slot queue.
/// Locking the live row is not enough: at an empty slot there is none, both writers would
/// find it empty, and the second would collide with the first on the slot's unique index
/// (a bare 409) instead of being judged by what the first wrote (an imposed override
/// refuses a tenant with 403). Behind a replacement, the row lock alone would let the
/// waiter find the slot empty again.
fn queue_at_slot(conn: &mut PgConnection, key: &str) -> Result<(), PolicyError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('policy.slot:' || $1, 0))")
        .bind::<diesel::sql_types::Text, _>(key)
        .execute(conn)?;
    Ok(())
}

/// The refusal a tenant gets for replacing or clearing what platform authority imposed.
fn imposed_here(what: &str) -> PolicyError {
    PolicyError::Forbidden(format!(
        "{what} was set here by a platform operator; only platform authority may change or clear it"
    ))
}

/// Records a change (the new version) and wakes every process's book on commit.
fn changed(conn: &mut PgConnection, what: &str) -> Result<(), DbError> {
    use super::schema::changes;
    diesel::insert_into(changes::table)
        .values(changes::what.eq(what))
        .execute(conn)?;
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
    Ok(())
}
