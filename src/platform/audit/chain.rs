//! The hash chain, encoding version 1. Each event's hash is
//!
//! ```text
//! hex(SHA-256("aicloud-audit-v1\n" + canonical JSON array of the fields below, in order))
//! ```
//!
//! `[seq, id, occurred_at, actor_kind, actor_id, actor_role, on_behalf_of, organization_id,
//! department_id, project_id, action, target_type, target_id, result, reason, correlation_id,
//! client_ip, user_agent, details, retention_class, prev_hash]`, where absent values are
//! `null`, `occurred_at` is RFC 3339 UTC with exactly six fractional digits
//! (`2026-11-28T23:12:53.123456Z`), `details` is the event's canonical JSON *text* (a string),
//! and the first event's `prev_hash` is 64 zeros. A digest signs, with Ed25519,
//! `"aicloud-audit-digest-v1\n" + canonical JSON {number, seq_from, seq_to, last_hash,
//! prev_signature, key_id, created_at}`. README.md shows how to check an export by hand.

use serde_json::{Value, json};

use super::{AuditEvent, DigestRecord};

/// Names this encoding; a new one would get a new tag.
pub const EVENT_TAG: &str = "aicloud-audit-v1";
/// Names the digest encoding.
pub const DIGEST_TAG: &str = "aicloud-audit-digest-v1";
/// `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// A timestamp as the chain encodes it.
pub fn timestamp(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(TIME_FORMAT)
        .unwrap_or_default()
}

/// Serde for timestamps that a signature or hash covers: written exactly as the chain
/// encodes them (six fractional digits), so an export can be checked byte for byte; read
/// as any RFC 3339 time.
pub mod exact_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Writes `at` as the chain encodes it.
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(&super::timestamp(*at))
    }

    /// Reads an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(input)?;
        OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map_err(serde::de::Error::custom)
    }
}

/// The encoded fields of `event` (everything but its own hash).
pub fn encode(event: &AuditEvent) -> String {
    let fields = json!([
        event.seq,
        event.id.to_string(),
        timestamp(event.occurred_at),
        event.actor.kind.as_str(),
        event.actor.id,
        event.actor.role,
        event.actor.on_behalf_of,
        event.organization_id.map(|u| u.to_string()),
        event.department_id.map(|u| u.to_string()),
        event.project_id.map(|u| u.to_string()),
        event.action,
        event.target_type,
        event.target_id,
        event.result.as_str(),
        event.reason,
        event.correlation_id,
        event.client_ip,
        event.user_agent,
        super::canonical::to_string(&event.details),
        event.retention_class,
        event.prev_hash,
    ]);
    super::canonical::to_string(&fields)
}

/// The hash `event` must carry.
pub fn hash(event: &AuditEvent) -> String {
    hash_encoded(&encode(event))
}

/// The hash of an already encoded event.
pub fn hash_encoded(encoded: &str) -> String {
    crate::base::encoding::sha256_hex(format!("{EVENT_TAG}\n{encoded}").as_bytes())
}

/// The bytes a digest's signature covers.
pub fn digest_message(d: &DigestRecord) -> String {
    let payload: Value = json!({
        "number": d.number,
        "seq_from": d.seq_from,
        "seq_to": d.seq_to,
        "last_hash": d.last_hash,
        "prev_signature": d.prev_signature,
        "key_id": d.key_id,
        "created_at": timestamp(d.created_at),
    });
    format!("{DIGEST_TAG}\n{}", super::canonical::to_string(&payload))
}

/// Identifies a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    crate::base::encoding::sha256_hex(public_key)[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature covers six fractional digits; a digest written with fewer (trailing
    /// zeros trimmed) could not be checked offline.
    #[test]
    fn a_digest_is_written_with_the_time_its_signature_covers() -> Result<(), serde_json::Error> {
        let created_at = time::macros::datetime!(2026-11-28 23:12:53.120000 UTC);
        let digest = DigestRecord {
            number: 1,
            seq_from: 1,
            seq_to: 1,
            last_hash: GENESIS.into(),
            prev_signature: GENESIS.into(),
            key_id: "k".into(),
            created_at,
            signature: String::new(),
        };
        let written = serde_json::to_value(&digest)?;
        assert_eq!(written["created_at"], "2026-11-28T23:12:53.120000Z");
        assert!(digest_message(&digest).contains("\"2026-11-28T23:12:53.120000Z\""));
        let read: DigestRecord = serde_json::from_value(written)?;
        assert_eq!(read.created_at, created_at);
        Ok(())
    }
}
