//! Verification: recompute every hash in seq order, check the links, then the digests.
//! Reads in chunks, so a long chain never sits in memory at once.

use std::collections::HashMap;

use diesel::prelude::*;

use super::super::schema::{digests, events};
use super::super::{
    AuditError, AuditEvent, Break, BreakKind, DigestRecord, VerifyReport, chain, signing,
};
use super::PgAudit;
use super::rows::{DigestRow, EventRow};

const CHUNK: i64 = 5_000;

/// Progress through the chain.
struct Walk {
    expected_seq: i64,
    prev_hash: String,
    checked: u64,
    verified_through: i64,
}

impl Walk {
    /// Checks `event`, given the one after it (to tell a swap from an edit).
    fn step(&mut self, event: &AuditEvent, next: Option<&AuditEvent>) -> Result<(), Break> {
        if event.seq != self.expected_seq {
            return Err(Break {
                seq: self.expected_seq,
                kind: BreakKind::Missing,
                detail: format!(
                    "seq {} is absent; the next event present is seq {}",
                    self.expected_seq, event.seq
                ),
            });
        }
        if chain::hash(event) != event.hash {
            let swapped =
                next.is_some_and(|n| event.prev_hash == n.hash || n.prev_hash == self.prev_hash);
            return Err(match swapped {
                true => Break { seq: event.seq, kind: BreakKind::Reordered, detail: "this event belongs elsewhere in the chain: its successor links to its predecessor".into() },
                false => Break { seq: event.seq, kind: BreakKind::Modified, detail: "the event's content no longer matches its hash".into() },
            });
        }
        if event.prev_hash != self.prev_hash {
            let seq = (event.seq - 1).max(1);
            return Err(Break {
                seq,
                kind: BreakKind::Modified,
                detail: format!(
                    "seq {} records a different hash for seq {seq} than seq {seq} now has",
                    event.seq
                ),
            });
        }
        self.prev_hash = event.hash.clone();
        self.expected_seq += 1;
        self.checked += 1;
        self.verified_through = event.seq;
        Ok(())
    }
}

impl PgAudit {
    pub(super) fn verify_on(
        &self,
        conn: &mut PgConnection,
        from: i64,
    ) -> Result<VerifyReport, AuditError> {
        let from = from.max(1);
        let digests: Vec<DigestRecord> = digests::table
            .order(digests::number)
            .select(DigestRow::as_select())
            .load(conn)?
            .into_iter()
            .map(DigestRecord::from)
            .collect();
        let mut ends: HashMap<i64, String> =
            digests.iter().map(|d| (d.seq_to, String::new())).collect();
        let mut walk = Walk {
            expected_seq: from,
            prev_hash: self.hash_before(conn, from)?,
            checked: 0,
            verified_through: from - 1,
        };
        let chain_break = walk_chain(conn, &mut walk, &mut ends)?;
        let (digests_checked, digest_break) = match &chain_break {
            Some(_) => (0, None),
            None => self.check_digests(&digests, &ends, from),
        };
        let first_break = chain_break.or(digest_break);
        Ok(VerifyReport {
            ok: first_break.is_none(),
            verified_through: walk.verified_through.max(0),
            events_checked: walk.checked,
            digests_checked,
            first_break,
            verified_at: self.clock.now(),
        })
    }

    /// The hash the event at `from` must link to.
    fn hash_before(&self, conn: &mut PgConnection, from: i64) -> Result<String, AuditError> {
        if from <= 1 {
            return Ok(chain::GENESIS.to_owned());
        }
        let hash: Option<String> = events::table
            .find(from - 1)
            .select(events::hash)
            .first(conn)
            .optional()?;
        hash.ok_or_else(|| AuditError::NotFound(format!("at seq {}", from - 1)))
    }

    fn check_digests(
        &self,
        digests: &[DigestRecord],
        ends: &HashMap<i64, String>,
        from: i64,
    ) -> (u64, Option<Break>) {
        let public = self.public_key_hex();
        let mut checked = 0;
        let mut prev_signature = chain::GENESIS.to_owned();
        for digest in digests {
            let bad = |detail: String| {
                Some(Break {
                    seq: digest.seq_to,
                    kind: BreakKind::BadDigest,
                    detail,
                })
            };
            if digest.prev_signature != prev_signature {
                return (
                    checked,
                    bad(format!(
                        "digest {} does not link to digest {}",
                        digest.number,
                        digest.number - 1
                    )),
                );
            }
            prev_signature = digest.signature.clone();
            if digest.seq_to < from {
                continue;
            }
            if ends
                .get(&digest.seq_to)
                .is_none_or(|hash| *hash != digest.last_hash)
            {
                return (
                    checked,
                    bad(format!(
                        "digest {} records a hash for seq {} that the chain does not have",
                        digest.number, digest.seq_to
                    )),
                );
            }
            if let Some(public) = &public
                && !signing::verify(public, &chain::digest_message(digest), &digest.signature)
            {
                return (
                    checked,
                    bad(format!(
                        "digest {}'s signature does not verify with key {}",
                        digest.number, digest.key_id
                    )),
                );
            }
            checked += 1;
        }
        (checked, None)
    }

    fn public_key_hex(&self) -> Option<String> {
        self.key.as_ref().map(|k| signing::public_key(k).public_key)
    }
}

/// Walks the chain from `walk.expected_seq`, recording the hashes at digest ends.
fn walk_chain(
    conn: &mut PgConnection,
    walk: &mut Walk,
    ends: &mut HashMap<i64, String>,
) -> Result<Option<Break>, AuditError> {
    let mut after = walk.expected_seq - 1;
    loop {
        let rows: Vec<AuditEvent> = events::table
            .filter(events::seq.gt(after))
            .order(events::seq)
            .limit(CHUNK + 1)
            .select(EventRow::as_select())
            .load(conn)?
            .into_iter()
            .map(EventRow::into_event)
            .collect();
        let take = rows.len().min(CHUNK as usize);
        for i in 0..take {
            if let Err(found) = walk.step(&rows[i], rows.get(i + 1)) {
                return Ok(Some(found));
            }
            if let Some(hash) = ends.get_mut(&rows[i].seq) {
                hash.clone_from(&rows[i].hash);
            }
        }
        if rows.len() <= CHUNK as usize {
            return Ok(None);
        }
        after = rows[take - 1].seq;
    }
}
