//! `PgEvents`: the outbox over PostgreSQL schema `events`, and its relay.

mod dlq;
mod publish;
mod relay;
mod rows;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use diesel::pg::PgConnection;
use uuid::Uuid;

use super::{Consumer, DeadLetter, Envelope, Events, EventsError, Message};
use crate::base::clock::Clock;
use crate::base::config::EventsSettings;
use crate::base::db::Db;
use crate::platform::audit::{Actor, Audit};
use crate::platform::registry::Registry;

/// The channel publishing notifies on commit.
const CHANNEL: &str = "events_outbox";

pub(super) struct Inner {
    db: Db,
    url: String,
    registry: Arc<dyn Registry>,
    audit: Arc<dyn Audit>,
    clock: Arc<dyn Clock>,
    settings: EventsSettings,
    consumers: RwLock<HashMap<String, Arc<dyn Consumer>>>,
    wake: tokio::sync::Notify,
    relay_started: std::sync::atomic::AtomicBool,
    relay_stopping: std::sync::atomic::AtomicBool,
    relay_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The outbox backed by PostgreSQL. Cloning shares everything.
#[derive(Clone)]
pub struct PgEvents {
    inner: Arc<Inner>,
}

impl PgEvents {
    /// The outbox over `db`; `url` is used for the LISTEN connection.
    pub fn new(
        db: Db,
        url: String,
        registry: Arc<dyn Registry>,
        audit: Arc<dyn Audit>,
        clock: Arc<dyn Clock>,
        settings: EventsSettings,
    ) -> PgEvents {
        PgEvents {
            inner: Arc::new(Inner {
                db,
                url,
                registry,
                audit,
                clock,
                settings,
                consumers: RwLock::new(HashMap::new()),
                wake: tokio::sync::Notify::new(),
                relay_started: std::sync::atomic::AtomicBool::new(false),
                relay_stopping: std::sync::atomic::AtomicBool::new(false),
                relay_task: std::sync::Mutex::new(None),
            }),
        }
    }
}

#[async_trait::async_trait]
impl Events for PgEvents {
    fn publish_in(
        &self,
        conn: &mut PgConnection,
        message: Message,
    ) -> Result<Envelope, EventsError> {
        self.inner.publish_on(conn, message)
    }

    async fn publish(&self, message: Message) -> Result<Envelope, EventsError> {
        let inner = Arc::clone(&self.inner);
        let envelope = self
            .inner
            .db
            .run(move |conn| inner.publish_on(conn, message))
            .await?;
        self.inner.wake.notify_one();
        Ok(envelope)
    }

    async fn subscribe(
        &self,
        name: &str,
        patterns: &[&str],
        consumer: Arc<dyn Consumer>,
    ) -> Result<(), EventsError> {
        self.inner.register(name, patterns).await?;
        if let Ok(mut consumers) = self.inner.consumers.write() {
            consumers.insert(name.to_owned(), consumer);
        }
        Ok(())
    }

    fn start_relay(&self) {
        relay::start(&self.inner);
    }

    async fn stop_relay(&self) {
        relay::stop(&self.inner).await;
    }

    async fn dead_letters(&self, open_only: bool) -> Result<Vec<DeadLetter>, EventsError> {
        self.inner
            .db
            .run(move |conn| dlq::list(conn, open_only))
            .await
    }

    async fn replay(&self, id: Uuid, actor: Actor) -> Result<(), EventsError> {
        let inner = Arc::clone(&self.inner);
        self.inner
            .db
            .run(move |conn| inner.replay_on(conn, id, actor))
            .await?;
        self.inner.wake.notify_one();
        Ok(())
    }
}
