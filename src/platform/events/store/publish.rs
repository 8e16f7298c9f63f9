//! Publishing and subscribing.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{consumers, outbox};
use super::super::{Envelope, EventsError, Message, subjects};
use super::rows::NewOutboxRow;
use super::{CHANNEL, Inner};

const EVENT_SUBJECT: &str = "event_subject";

impl Inner {
    /// Fails closed: only subjects some packet declares (and the registry holds active).
    fn check_declared(&self, conn: &mut PgConnection, event_type: &str) -> Result<(), EventsError> {
        if self.registry.is_active(EVENT_SUBJECT, event_type) {
            return Ok(());
        }
        // Perhaps declared by the caller's own, uncommitted transaction.
        let declared = self
            .registry
            .active_entry_in(conn, EVENT_SUBJECT, event_type)
            .map_err(|err| EventsError::Invalid {
                field: "event_type",
                reason: err.to_string(),
            })?;
        match declared {
            Some(_) => Ok(()),
            None => Err(EventsError::Invalid {
                field: "event_type",
                reason: format!(
                    "`{event_type}` is not an event subject declared in an onboarded packet"
                ),
            }),
        }
    }

    pub(super) fn publish_on(
        &self,
        conn: &mut PgConnection,
        message: Message,
    ) -> Result<Envelope, EventsError> {
        self.check_declared(conn, &message.event_type)?;
        if message.version.trim().is_empty() {
            return Err(EventsError::Invalid {
                field: "version",
                reason: "must not be empty".into(),
            });
        }
        let row = NewOutboxRow {
            event_id: Uuid::now_v7(),
            event_type: message.event_type,
            version: message.version,
            occurred_at: crate::base::clock::truncate_to_micros(self.clock.now()),
            correlation_id: message.correlation_id,
            payload: message.payload,
        };
        conn.transaction(|conn| {
            diesel::insert_into(outbox::table)
                .values(&row)
                .execute(conn)?;
            diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
            Ok::<_, EventsError>(())
        })?;
        Ok(Envelope {
            event_id: row.event_id,
            event_type: row.event_type,
            occurred_at: row.occurred_at,
            version: row.version,
            correlation_id: row.correlation_id,
            payload: row.payload,
        })
    }

    pub(super) async fn register(&self, name: &str, patterns: &[&str]) -> Result<(), EventsError> {
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !valid_name {
            return Err(EventsError::Invalid {
                field: "name",
                reason: format!("`{name}` must be letters, digits, . _ -"),
            });
        }
        if patterns.is_empty() || !patterns.iter().all(|p| subjects::is_pattern(p)) {
            return Err(EventsError::Invalid {
                field: "subjects",
                reason: format!("{patterns:?} are not subject patterns"),
            });
        }
        let name = name.to_owned();
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        let now = self.clock.now();
        self.db
            .run(move |conn| {
                diesel::insert_into(consumers::table)
                    .values((
                        consumers::name.eq(&name),
                        consumers::subjects.eq(&patterns),
                        consumers::registered_at.eq(now),
                    ))
                    .on_conflict(consumers::name)
                    .do_update()
                    .set(consumers::subjects.eq(&patterns))
                    .execute(conn)
                    .map(|_| ())
                    .map_err(EventsError::from)
            })
            .await
    }
}
