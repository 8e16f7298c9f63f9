//! Appending: validate against the registry, take the chain lock, link, insert.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use uuid::Uuid;

use super::super::schema::events;
use super::super::{AuditError, AuditEvent, NewEvent, canonical, chain};
use super::PgAudit;
use super::rows::EventRow;

/// Serialises appends: one chain, one writer at a time, until the writer's commit.
const CHAIN_LOCK: i64 = 0x0a0d_17c4;

const AUDIT_ACTION: &str = "audit_action";

/// What the registry says about an action.
struct Declared {
    target_type: String,
    retention_class: String,
}

impl PgAudit {
    fn declared(&self, conn: &mut PgConnection, action: &str) -> Result<Declared, AuditError> {
        let entry = match self.registry.active_entry(AUDIT_ACTION, action) {
            Some(entry) => Some(entry),
            // Not in memory: perhaps activated by the caller's own, uncommitted transaction.
            None => self
                .registry
                .active_entry_in(conn, AUDIT_ACTION, action)
                .map_err(|err| AuditError::Invalid {
                    field: "action",
                    reason: err.to_string(),
                })?,
        };
        let entry = entry.ok_or_else(|| AuditError::Invalid {
            field: "action",
            reason: format!("`{action}` is not an active audit action in the registry"),
        })?;
        let text = |key: &str| {
            entry
                .attributes
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Declared {
            target_type: text("target_type"),
            retention_class: text("retention_class"),
        })
    }

    fn check(&self, event: &NewEvent, declared: &Declared) -> Result<(), AuditError> {
        let reject = |field, reason: String| Err(AuditError::Invalid { field, reason });
        if event.target_type != declared.target_type {
            return reject(
                "target_type",
                format!(
                    "`{}` acts on `{}`, not `{}`",
                    event.action, declared.target_type, event.target_type
                ),
            );
        }
        if event.actor.id.trim().is_empty() {
            return reject("actor.id", "must not be empty".into());
        }
        if event.target_id.trim().is_empty() {
            return reject("target_id", "must not be empty".into());
        }
        if !event.details.is_object() {
            return reject("details", "must be a JSON object".into());
        }
        let size = canonical::to_string(&event.details).len();
        if size > self.max_details_bytes {
            return reject(
                "details",
                format!(
                    "{size} bytes is over the limit of {}",
                    self.max_details_bytes
                ),
            );
        }
        Ok(())
    }

    /// Appends `events` on `conn` in order, inside a transaction (a savepoint when the
    /// caller has one): every event is checked first, then one lock, one head read and
    /// multi-row inserts.
    pub(super) fn append_on(
        &self,
        conn: &mut PgConnection,
        events: Vec<NewEvent>,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        let mut checked = Vec::with_capacity(events.len());
        for event in events {
            let declared = self.declared(conn, &event.action)?;
            self.check(&event, &declared)?;
            checked.push((event, declared));
        }
        conn.transaction(|conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(CHAIN_LOCK)
                .execute(conn)?;
            let head: Option<(i64, String)> = events::table
                .select((events::seq, events::hash))
                .order(events::seq.desc())
                .first(conn)
                .optional()?;
            let (mut seq, mut prev_hash): (i64, String) = head
                .map_or((1, chain::GENESIS.to_owned()), |(seq, hash)| {
                    (seq + 1, hash)
                });
            let mut linked = Vec::with_capacity(checked.len());
            for (event, declared) in checked {
                let event = self.link(event, declared, seq, std::mem::take(&mut prev_hash));
                prev_hash.clone_from(&event.hash);
                seq += 1;
                linked.push(event);
            }
            let rows: Vec<EventRow> = linked.iter().map(EventRow::from_event).collect();
            for chunk in rows.chunks(1000) {
                diesel::insert_into(events::table)
                    .values(chunk)
                    .execute(conn)?;
            }
            Ok(linked)
        })
    }

    fn link(&self, event: NewEvent, declared: Declared, seq: i64, prev_hash: String) -> AuditEvent {
        let mut linked = AuditEvent {
            seq,
            id: Uuid::now_v7(),
            occurred_at: crate::base::clock::truncate_to_micros(self.clock.now()),
            actor: event.actor,
            organization_id: event.organization_id,
            department_id: event.department_id,
            project_id: event.project_id,
            action: event.action,
            target_type: event.target_type,
            target_id: event.target_id,
            result: event.result,
            reason: event.reason,
            correlation_id: event.correlation_id,
            client_ip: event.client_ip,
            user_agent: event.user_agent,
            details: event.details,
            retention_class: declared.retention_class,
            prev_hash,
            hash: String::new(),
        };
        linked.hash = chain::hash(&linked);
        linked
    }
}
