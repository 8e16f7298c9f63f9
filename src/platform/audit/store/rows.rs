//! Row types of the audit tables and their conversions.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::schema::{digests, events};
use super::super::{Actor, ActorKind, AuditEvent, AuditResult, DigestRecord};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: OffsetDateTime,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_role: Option<String>,
    pub on_behalf_of: Option<String>,
    pub organization_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub result: String,
    pub reason: Option<String>,
    pub correlation_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub retention_class: String,
    pub prev_hash: String,
    pub hash: String,
}

impl EventRow {
    /// The event as stored. Unparseable details or enums (only possible by tampering) keep
    /// their text, so verification sees the tampering as a hash mismatch.
    pub fn into_event(self) -> AuditEvent {
        let details =
            serde_json::from_str(&self.details).unwrap_or(serde_json::Value::String(self.details));
        AuditEvent {
            seq: self.seq,
            id: self.id,
            occurred_at: self.occurred_at,
            actor: Actor {
                kind: ActorKind::parse(&self.actor_kind).unwrap_or(ActorKind::System),
                id: self.actor_id,
                role: self.actor_role,
                on_behalf_of: self.on_behalf_of,
            },
            organization_id: self.organization_id,
            department_id: self.department_id,
            project_id: self.project_id,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            result: AuditResult::parse(&self.result).unwrap_or(AuditResult::Failed),
            reason: self.reason,
            correlation_id: self.correlation_id,
            client_ip: self.client_ip,
            user_agent: self.user_agent,
            details,
            retention_class: self.retention_class,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }

    pub fn from_event(e: &AuditEvent) -> EventRow {
        EventRow {
            seq: e.seq,
            id: e.id,
            occurred_at: e.occurred_at,
            actor_kind: e.actor.kind.as_str().into(),
            actor_id: e.actor.id.clone(),
            actor_role: e.actor.role.clone(),
            on_behalf_of: e.actor.on_behalf_of.clone(),
            organization_id: e.organization_id,
            department_id: e.department_id,
            project_id: e.project_id,
            action: e.action.clone(),
            target_type: e.target_type.clone(),
            target_id: e.target_id.clone(),
            result: e.result.as_str().into(),
            reason: e.reason.clone(),
            correlation_id: e.correlation_id.clone(),
            client_ip: e.client_ip.clone(),
            user_agent: e.user_agent.clone(),
            details: super::super::canonical::to_string(&e.details),
            retention_class: e.retention_class.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = digests)]
pub struct DigestRow {
    pub number: i64,
    pub seq_from: i64,
    pub seq_to: i64,
    pub last_hash: String,
    pub prev_signature: String,
    pub key_id: String,
    pub created_at: OffsetDateTime,
    pub signature: String,
}

impl From<DigestRow> for DigestRecord {
    fn from(r: DigestRow) -> DigestRecord {
        DigestRecord {
            number: r.number,
            seq_from: r.seq_from,
            seq_to: r.seq_to,
            last_hash: r.last_hash,
            prev_signature: r.prev_signature,
            key_id: r.key_id,
            created_at: r.created_at,
            signature: r.signature,
        }
    }
}

impl From<&DigestRecord> for DigestRow {
    fn from(d: &DigestRecord) -> DigestRow {
        DigestRow {
            number: d.number,
            seq_from: d.seq_from,
            seq_to: d.seq_to,
            last_hash: d.last_hash.clone(),
            prev_signature: d.prev_signature.clone(),
            key_id: d.key_id.clone(),
            created_at: d.created_at,
            signature: d.signature.clone(),
        }
    }
}
