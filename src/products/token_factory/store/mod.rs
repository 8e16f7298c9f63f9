//! `TokenFactory`: the catalog in a NOTIFY-refreshed snapshot, its audited changes, the
//! gateway over it, the analytics writer and the endpoint prober.

pub mod analytics;
mod announce;
mod catalog;
mod insights;
mod load;
mod request_rows;
mod shared_health;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::prelude::*;

use super::TfError;
use super::catalog::Book;
use super::gateway::Gateway;
use super::gateway::readiness::Readiness;
use super::upstream::Upstreams;
use super::upstream::health::Health;
use crate::base::clock::Clock;
use crate::base::config::TokenFactorySettings;
use crate::base::db::snapshot::{Freshness, Snapshot};
use crate::base::db::{Db, DbError};
use crate::platform::audit::Audit;
use crate::platform::billing::{Metering, SpendGuard};
use crate::platform::iam::{Access, Keys};
use crate::platform::policy::Decisions;
use crate::platform::registry::Registry;

/// The channel every catalog change notifies on commit.
const CHANNEL: &str = "token_factory_catalog";

/// Catalog changes reach every process's gateway within a poll.
const FRESHNESS: Freshness = Freshness {
    channel: CHANNEL,
    poll: Duration::from_millis(100),
    resync: Duration::from_secs(30),
};

/// The platform services Token Factory consumes, through their traits.
#[derive(Clone)]
pub struct Collaborators {
    /// The IAM read model: keys and scope decisions.
    pub keys: Arc<dyn Keys>,
    /// Authorization of catalog changes.
    pub access: Arc<dyn Access>,
    /// Custody of catalog changes.
    pub audit: Arc<dyn Audit>,
    /// The outbox: usage recorded, catalog changes, provider health.
    pub events: Arc<dyn crate::platform::events::Events>,
    /// The packet's entries.
    pub registry: Arc<dyn Registry>,
    /// Admission.
    pub decisions: Arc<dyn Decisions>,
    /// Reservations against funds.
    pub spend: Arc<dyn SpendGuard>,
    /// Usage capture.
    pub metering: Arc<dyn Metering>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

/// Token Factory, started.
pub struct TokenFactory {
    db: Db,
    book: Snapshot<Book>,
    with: Collaborators,
    gateway: Arc<Gateway>,
    /// Ends the shared-health follower.
    stopped: Arc<AtomicBool>,
}

impl TokenFactory {
    /// Loads the catalog, starts keeping it fresh, and starts the analytics writer and the
    /// prober.
    pub async fn start(
        db: Db,
        url: String,
        with: Collaborators,
        settings: TokenFactorySettings,
    ) -> Result<TokenFactory, TfError> {
        let book = Snapshot::start(db.clone(), url.clone(), FRESHNESS, load::load).await?;
        let (health, transitions) = Health::announcing(settings.eject_after_failures);
        let health = Arc::new(health);
        let stopped = Arc::new(AtomicBool::new(false));
        shared_health::follow(url, &health, Arc::clone(&stopped));
        tokio::spawn(announce::health_changes(
            transitions,
            db.clone(),
            book.clone(),
            Arc::clone(&with.events),
        ));
        let upstreams = Upstreams::new(health, Duration::from_millis(settings.demo_word_delay_ms))
            .map_err(|reason| TfError::invalid("token_factory", reason))?;
        let analytics = analytics::start(
            db.clone(),
            Arc::clone(&with.events),
            Duration::from_millis(settings.analytics_flush_ms),
        );
        let gateway = Arc::new(Gateway {
            with: with.clone(),
            book: book.clone(),
            upstreams: Arc::new(upstreams),
            readiness: Arc::new(Readiness::new(Arc::clone(&with.registry))),
            analytics,
            settings: settings.clone(),
            metrics: super::metrics::Metrics::default(),
            pending_commits: Arc::new(tokio::sync::Semaphore::new(settings.max_pending_commits)),
        });
        tokio::spawn(probe(
            Arc::clone(&gateway),
            Duration::from_secs(settings.probe_interval_secs.max(1)),
        ));
        Ok(TokenFactory {
            db,
            book,
            with,
            gateway,
            stopped,
        })
    }

    /// The gateway, for the `/v1` routes.
    pub fn gateway(&self) -> Arc<Gateway> {
        Arc::clone(&self.gateway)
    }

    /// Registers the gateway's metrics for `/metrics`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.gateway.metrics.register(registry);
    }

    /// Its readiness, for `/readyz`.
    pub fn readiness(&self) -> Arc<dyn crate::kit::http::health::Ready> {
        self.gateway.readiness.clone()
    }

    /// Stops the catalog's listener and the shared-health follower (at shutdown).
    pub fn stop(&self) {
        self.book.stop();
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// Probes endpoints out of rotation every `every`, bringing back each that answers.
async fn probe(gateway: Arc<Gateway>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let ejected = gateway.upstreams.health.ejected();
        if ejected.is_empty() {
            continue;
        }
        let endpoints: Vec<_> = {
            let book = gateway.book.get();
            book.models
                .values()
                .flat_map(|m| m.endpoints.iter())
                .filter(|e| ejected.contains(&e.id))
                .cloned()
                .collect()
        };
        for endpoint in endpoints {
            if gateway.upstreams.probe(&endpoint).await {
                gateway.upstreams.health.success(endpoint.id);
                log::info!(
                    "endpoint {} answered its probe and is back in rotation",
                    endpoint.name
                );
            }
        }
    }
}

/// Records a catalog change and wakes every process's catalog on commit.
fn changed(conn: &mut PgConnection, what: &str) -> Result<(), DbError> {
    use super::schema::changes;
    diesel::insert_into(changes::table)
        .values(changes::what.eq(what))
        .execute(conn)?;
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
    Ok(())
}
