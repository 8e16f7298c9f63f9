//! Dead letters: listing and replay.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{dead_letters, deliveries, outbox};
use super::super::{DeadLetter, EventsError};
use super::rows::OutboxRow;
use super::{CHANNEL, Inner};
use crate::platform::audit::{Actor, NewEvent};

/// Audit action for a replay, declared by the platform's packet.
const REPLAYED: &str = "platform.dead_letter.replayed";

type DeadRow = (
    Uuid,
    i64,
    String,
    i32,
    String,
    time::OffsetDateTime,
    Option<time::OffsetDateTime>,
);

pub fn list(conn: &mut PgConnection, open_only: bool) -> Result<Vec<DeadLetter>, EventsError> {
    let mut query = dead_letters::table
        .inner_join(outbox::table.on(outbox::seq.eq(dead_letters::event_seq)))
        .select((
            (
                dead_letters::id,
                dead_letters::event_seq,
                dead_letters::consumer,
                dead_letters::attempts,
                dead_letters::error,
                dead_letters::dead_at,
                dead_letters::replayed_at,
            ),
            OutboxRow::as_select(),
        ))
        .order(dead_letters::dead_at.desc())
        .into_boxed();
    if open_only {
        query = query.filter(dead_letters::replayed_at.is_null());
    }
    let rows: Vec<(DeadRow, OutboxRow)> = query.limit(500).load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |((id, _, consumer, attempts, error, dead_at, replayed_at), event)| DeadLetter {
                id,
                consumer,
                attempts,
                error,
                dead_at,
                replayed_at,
                event: event.envelope(),
            },
        )
        .collect())
}

impl Inner {
    /// Requeues the delivery with a fresh set of attempts, audited in the same transaction.
    pub(super) fn replay_on(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        actor: Actor,
    ) -> Result<(), EventsError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let found: Option<(i64, String)> = dead_letters::table
                .find(id)
                .filter(dead_letters::replayed_at.is_null())
                .select((dead_letters::event_seq, dead_letters::consumer))
                .for_update()
                .first(conn)
                .optional()?;
            let (event_seq, consumer) = found.ok_or(EventsError::NotFound(id))?;
            diesel::update(dead_letters::table.find(id))
                .set(dead_letters::replayed_at.eq(now))
                .execute(conn)?;
            diesel::update(deliveries::table.find((event_seq, &consumer)))
                .set((
                    deliveries::status.eq("pending"),
                    deliveries::attempts.eq(0),
                    deliveries::next_attempt_at.eq(now),
                    deliveries::leased_until.eq(None::<time::OffsetDateTime>),
                    deliveries::last_error.eq(None::<String>),
                ))
                .execute(conn)?;
            let mut event = NewEvent::new(actor, REPLAYED, "dead_letter", &id.to_string());
            event.details = serde_json::json!({ "consumer": consumer, "event_seq": event_seq });
            self.audit.append_in(conn, event)?;
            diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
            Ok(())
        })
    }
}
