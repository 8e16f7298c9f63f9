//! Signed digests: each covers the events since the previous one and links to its signature.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::super::schema::{digests, events};
use super::super::{AuditError, DigestRecord, chain, signing};
use super::PgAudit;
use super::rows::DigestRow;

const DIGEST_LOCK: i64 = 0x0a0d_d16e;

impl PgAudit {
    pub(super) fn sign_on(
        &self,
        conn: &mut PgConnection,
    ) -> Result<Option<DigestRecord>, AuditError> {
        let key = self.key.as_ref().ok_or(AuditError::NoSigningKey)?;
        conn.transaction(|conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(DIGEST_LOCK)
                .execute(conn)?;
            let last: Option<DigestRow> = digests::table
                .order(digests::number.desc())
                .select(DigestRow::as_select())
                .first(conn)
                .optional()?;
            let head: Option<(i64, String)> = events::table
                .select((events::seq, events::hash))
                .order(events::seq.desc())
                .first(conn)
                .optional()?;
            let covered = last.as_ref().map_or(0, |d| d.seq_to);
            let Some((seq_to, last_hash)) = head.filter(|(seq, _)| *seq > covered) else {
                return Ok(None);
            };
            let mut record = DigestRecord {
                number: last.as_ref().map_or(1, |d| d.number + 1),
                seq_from: covered + 1,
                seq_to,
                last_hash,
                prev_signature: last.map_or(chain::GENESIS.to_owned(), |d| d.signature),
                key_id: signing::public_key(key).key_id,
                created_at: crate::base::clock::truncate_to_micros(self.clock.now()),
                signature: String::new(),
            };
            record.signature = signing::sign(key, &chain::digest_message(&record));
            diesel::insert_into(digests::table)
                .values(DigestRow::from(&record))
                .execute(conn)?;
            Ok(Some(record))
        })
    }

    pub(super) fn digests_on(
        conn: &mut PgConnection,
        from: i64,
        to: i64,
    ) -> Result<Vec<DigestRecord>, AuditError> {
        Ok(digests::table
            .filter(digests::seq_to.ge(from))
            .filter(digests::seq_from.le(to))
            .order(digests::number)
            .select(DigestRow::as_select())
            .load(conn)?
            .into_iter()
            .map(DigestRecord::from)
            .collect())
    }
}
