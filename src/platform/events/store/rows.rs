//! Row types of the events tables.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::Envelope;
use super::super::schema::outbox;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub seq: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub version: String,
    pub occurred_at: OffsetDateTime,
    pub correlation_id: Option<String>,
    pub payload: serde_json::Value,
}

impl OutboxRow {
    pub fn envelope(self) -> Envelope {
        Envelope {
            event_id: self.event_id,
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            version: self.version,
            correlation_id: self.correlation_id,
            payload: self.payload,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewOutboxRow {
    pub event_id: Uuid,
    pub event_type: String,
    pub version: String,
    pub occurred_at: OffsetDateTime,
    pub correlation_id: Option<String>,
    pub payload: serde_json::Value,
}
