//! The events the packet declares for the catalog and provider health: a model added,
//! enabled or disabled (`token_factory.model.changed`) and an endpoint registered or removed
//! (`token_factory.routing.changed`), each in the change's transaction; an endpoint leaving
//! rotation or coming back (`token_factory.provider.health_changed`), published off the
//! request path as this process observes it.

use std::sync::Arc;

use diesel::{Connection, PgConnection};
use serde_json::{Value, json};

use super::super::catalog::Book;
use super::shared_health;
use crate::base::db::snapshot::Snapshot;
use crate::base::db::{Db, DbError};
use crate::platform::events::{Events, Message};
use crate::products::token_factory::upstream::health::Transition;

/// A model was added, enabled or disabled.
pub const MODEL_CHANGED: &str = "token_factory.model.changed";
/// A model's endpoints changed.
pub const ROUTING_CHANGED: &str = "token_factory.routing.changed";
/// An endpoint left rotation or came back.
pub const HEALTH_CHANGED: &str = "token_factory.provider.health_changed";

/// Publishes one of the packet's events (a catalog change, a health transition) in the
/// caller's transaction.
pub fn publish_in(
    conn: &mut PgConnection,
    events: &dyn Events,
    subject: &'static str,
    payload: Value,
) -> Result<(), DbError> {
    events
        .publish_in(conn, Message::new(subject, payload))
        .map_err(|err| DbError::Refused(format!("announcing {subject}: {err}")))?;
    Ok(())
}

/// Records and publishes each health transition this process observes, in one
/// transaction, naming the endpoint as the catalog does, until the sender is gone. The
/// record is what the other processes follow (`shared_health`); the event is for status
/// and notifications.
pub async fn health_changes(
    mut transitions: tokio::sync::mpsc::Receiver<Transition>,
    db: Db,
    book: Snapshot<Book>,
    events: Arc<dyn Events>,
) {
    while let Some(change) = transitions.recv().await {
        let named = {
            let book = book.get();
            book.models.values().find_map(|m| {
                m.endpoints
                    .iter()
                    .find(|e| e.id == change.endpoint)
                    .map(|e| (m.id.to_string(), e.name.clone()))
            })
        };
        // Transitions come only from endpoints in the routing book, so one missing from it
        // was removed since; its record went with it, and it has no health left to share.
        let Some((model, endpoint)) = named else {
            log::debug!(
                "endpoint {}: removed, its health not recorded",
                change.endpoint
            );
            continue;
        };
        let payload = json!({
            "endpoint_id": change.endpoint, "model": model, "endpoint": endpoint,
            "status": if change.healthy { "healthy" } else { "unavailable" },
            "process_id": std::process::id(),
        });
        let events = Arc::clone(&events);
        let done = db
            .run(move |conn| {
                conn.transaction(|conn| {
                    shared_health::record(conn, change)?;
                    publish_in(conn, events.as_ref(), HEALTH_CHANGED, payload)
                })
            })
            .await;
        if let Err(err) = done {
            log::warn!(
                "endpoint {}: {HEALTH_CHANGED} not recorded: {err}",
                change.endpoint
            );
        }
    }
}
