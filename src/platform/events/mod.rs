//! Events: a transactional outbox. A module announces a change by writing an outbox row in
//! the same transaction as the change; the in-process relay delivers it at least once to
//! every consumer subscribed to its subject, retrying with exponential backoff and parking
//! poison deliveries in a dead-letter table for replay. State lives in PostgreSQL, so a
//! restart resumes where the last process stopped.

pub mod api;
pub mod cli;
pub mod pages;
mod schema;
mod store;
pub mod subjects;

use std::sync::Arc;

use diesel::pg::PgConnection;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub use store::PgEvents;

use crate::base::db::DbError;
use crate::kit::error::ApiError;
use crate::platform::audit::{Actor, AuditError};

/// The envelope every consumer receives.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Envelope {
    /// Unique id; consumers deduplicate on it.
    pub event_id: Uuid,
    /// A subject declared in some packet's `ownership.events`.
    pub event_type: String,
    /// When the change happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Payload version; a breaking change is a new version.
    pub version: String,
    /// Follows one action through audit, ledger, evidence and events.
    pub correlation_id: Option<String>,
    /// The event's data.
    pub payload: serde_json::Value,
}

/// An event to publish.
#[derive(Debug, Clone)]
pub struct Message {
    /// Declared subject.
    pub event_type: String,
    /// Payload version (`1.0` unless the payload changed incompatibly).
    pub version: String,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// Data.
    pub payload: serde_json::Value,
}

impl Message {
    /// Version `1.0` of `event_type` carrying `payload`, correlated with the request
    /// being served.
    pub fn new(event_type: &str, payload: serde_json::Value) -> Message {
        Message {
            event_type: event_type.to_owned(),
            version: "1.0".into(),
            correlation_id: crate::base::context::current().map(|c| c.correlation_id),
            payload,
        }
    }
}

/// Processes events. Must be idempotent: an event may arrive more than once.
#[async_trait::async_trait]
pub trait Consumer: Send + Sync {
    /// Handles one event; an error schedules a retry (or, after the last, a dead letter).
    async fn handle(&self, event: &Envelope) -> Result<(), String>;
}

/// A delivery that exhausted its retries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Dead-letter id (what `replay` takes).
    pub id: Uuid,
    /// The consumer that failed.
    pub consumer: String,
    /// Attempts made.
    pub attempts: i32,
    /// The last error.
    pub error: String,
    /// When it was parked.
    #[serde(with = "time::serde::rfc3339")]
    pub dead_at: OffsetDateTime,
    /// When it was replayed, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub replayed_at: Option<OffsetDateTime>,
    /// The event.
    pub event: Envelope,
}

/// Events failures.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The message or subscription breaks a rule; nothing was written.
    #[error("{field}: {reason}")]
    Invalid {
        /// Field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such dead letter (or it was replayed already).
    #[error("no open dead letter {0}")]
    NotFound(Uuid),
    /// The replay could not be audited, so it was not made.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for EventsError {
    fn from(err: diesel::result::Error) -> EventsError {
        EventsError::Db(DbError::from(err))
    }
}

impl From<EventsError> for ApiError {
    fn from(err: EventsError) -> ApiError {
        match err {
            EventsError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            EventsError::NotFound(_) => ApiError::NotFound(err.to_string()),
            EventsError::Audit(audit) => audit.into(),
            EventsError::Db(db) => db.into(),
        }
    }
}

/// The outbox as other modules see it.
#[async_trait::async_trait]
pub trait Events: Send + Sync {
    /// Writes `message` to the outbox inside the caller's open transaction on `conn`.
    fn publish_in(
        &self,
        conn: &mut PgConnection,
        message: Message,
    ) -> Result<Envelope, EventsError>;

    /// Publishes in a transaction of its own.
    async fn publish(&self, message: Message) -> Result<Envelope, EventsError>;

    /// Registers `consumer` under the stable `name` for subjects matching `patterns`. Events
    /// fanned out after the first registration of `name` reach it, across restarts.
    async fn subscribe(
        &self,
        name: &str,
        patterns: &[&str],
        consumer: Arc<dyn Consumer>,
    ) -> Result<(), EventsError>;

    /// Starts delivering to this process's consumers (call after subscribing them).
    fn start_relay(&self);

    /// Stops the relay and waits until its current round has finished; deliveries it had
    /// not made stay in the outbox for the next process. Call once the server has stopped.
    async fn stop_relay(&self);

    /// Dead letters, newest first; `open_only` leaves out replayed ones.
    async fn dead_letters(&self, open_only: bool) -> Result<Vec<DeadLetter>, EventsError>;

    /// Puts a dead letter's delivery back in the queue, audited as `actor`.
    async fn replay(&self, id: Uuid, actor: Actor) -> Result<(), EventsError>;
}
