//! One posting round: claim waiting captures, rate their usage at the prices in effect when
//! it occurred, post one journal transaction per capture under its journal id, store the
//! ratings, and announce the round's usage to the quota feed's readers.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::super::BillingError;
use super::super::posting::{UsageDebit, Writer};
use super::super::quota_feed::{self, Added};
use super::super::rating::{self, UsageFact};
use super::super::rows::RatingRow;

/// Most captures one round posts; a busier queue takes several rounds in a row.
pub const MAX_CAPTURES: i64 = 2000;
/// Failed rounds of its own after which a capture is left waiting for an operator.
pub const MAX_FAILURES: i32 = 3;

/// A captured event with whom it is counted for in the quota feed.
#[derive(QueryableByName)]
struct Waiting {
    #[diesel(embed)]
    fact: UsageFact,
    #[diesel(sql_type = SqlUuid)]
    project_id: Uuid,
    #[diesel(sql_type = Text)]
    actor_kind: String,
    #[diesel(sql_type = Text)]
    actor_id: String,
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    journal_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    batch_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
}

/// What a round writes for its captures.
struct Rated {
    ratings: Vec<RatingRow>,
    debits: Vec<UsageDebit>,
    added: Added,
}

/// Claims, rates and posts up to `MAX_CAPTURES` waiting captures (or only `only`), in the
/// caller's transaction; returns how many.
pub fn post_waiting(
    conn: &mut PgConnection,
    writer: &Writer,
    only: Option<Uuid>,
) -> Result<usize, BillingError> {
    let now = writer.clock.now();
    let claimed = claim(conn, now, only)?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let rated = rate(conn, writer, &claimed, now)?;
    writer.post_usage(conn, &rated.debits)?;
    super::super::bulk::insert_ratings(conn, &rated.ratings)?;
    // Also when nothing was charged: the spend guards counting these captures learn from
    // the funds reload that they are posted.
    super::super::notify_funds(conn)?;
    // The totals were added at capture; this tells the feed's readers, once per round.
    quota_feed::announce(conn, writer, Uuid::now_v7(), &rated.added)?;
    Ok(claimed.len())
}

/// Marks up to `MAX_CAPTURES` waiting captures posted, oldest first, skipping those another
/// round holds and those set aside.
fn claim(
    conn: &mut PgConnection,
    now: OffsetDateTime,
    only: Option<Uuid>,
) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "UPDATE billing.usage_captures SET posted_at = $1 WHERE journal_id IN ( \
           SELECT journal_id FROM billing.usage_captures \
           WHERE posted_at IS NULL AND failures < $3 AND ($4::uuid IS NULL OR journal_id = $4) \
           ORDER BY captured_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING journal_id, batch_id, organization_id",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(MAX_CAPTURES)
    .bind::<Int4, _>(MAX_FAILURES)
    .bind::<Nullable<SqlUuid>, _>(only)
    .load(conn)
}

/// The claimed captures' ratings, what each owes (under its journal id), and what their
/// usage added to the quota feed.
fn rate(
    conn: &mut PgConnection,
    writer: &Writer,
    claimed: &[Claimed],
    now: OffsetDateTime,
) -> Result<Rated, BillingError> {
    let journals: HashMap<(Uuid, Uuid), Uuid> = claimed
        .iter()
        .map(|c| ((c.batch_id, c.organization_id), c.journal_id))
        .collect();
    let usage: Vec<Waiting> = usage_of(conn, claimed)?
        .into_iter()
        .filter(|w| journals.contains_key(&(w.fact.batch_id, w.fact.organization_id)))
        .collect();
    let facts: Vec<&UsageFact> = usage.iter().map(|w| &w.fact).collect();
    let book = rating::book_for(conn, &facts)?;
    let (mut ratings, mut owed) = (Vec::new(), HashMap::<Uuid, Decimal>::new());
    let mut added = Added::default();
    for w in &usage {
        let u = &w.fact;
        let actor = (w.actor_kind.as_str(), w.actor_id.as_str());
        added.add(
            u.organization_id,
            w.project_id,
            actor,
            &u.unit,
            u.occurred_at,
            u.quantity,
        );
        let journal = journals[&(u.batch_id, u.organization_id)];
        if let Some(mut row) = rating::rate(&book, u.id, u.fact(&writer.currency), now) {
            if row.amount_minor > Decimal::ZERO {
                *owed.entry(journal).or_default() += row.amount_minor;
                row.journal_id = Some(journal);
            }
            ratings.push(row);
        }
    }
    let debits = claimed
        .iter()
        .filter_map(|c| {
            owed.get(&c.journal_id).map(|amount| UsageDebit {
                journal: c.journal_id,
                organization: c.organization_id,
                batch: c.batch_id,
                amount: *amount,
            })
        })
        .collect();
    Ok(Rated {
        ratings,
        debits,
        added,
    })
}

/// The usage of the claimed captures' batches (of any organization; the caller keeps the
/// claimed ones). None of it is rated yet: only the round that claims a capture rates its
/// usage (late rating and re-rating pass over usage whose capture waits), and were a
/// rating there, its primary key would fail the round rather than charge twice. No
/// `NOT EXISTS` over the ratings, then: beside the batch lookup the planner chose a hash
/// anti join over every rating for it, and a round cost as much as the ledger had rated
/// (37 ms a round after 270,000 ratings in the gateway bench).
fn usage_of(conn: &mut PgConnection, claimed: &[Claimed]) -> QueryResult<Vec<Waiting>> {
    let batches: Vec<Uuid> = claimed
        .iter()
        .map(|c| c.batch_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    diesel::sql_query(
        "SELECT id, product, unit, resource_type, resource_id, quantity, occurred_at, \
                organization_id, batch_id, project_id, actor_kind, actor_id \
         FROM billing.usage_events WHERE batch_id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(batches)
    .load(conn)
}
