//! Derives organizations' funds from their postings: the snapshot's loader, and what a
//! posting transaction reads (under the organizations' locks) before it draws on them.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::funds::{BalanceState, Funds, Lot, OrgFunds};
use super::super::guard::Spending;
use super::super::schema::{
    account_balances, accounts, balance_states, credit_lines, grants, journal, usage_captures,
};

/// Every organization's funds for the spend guard, read in one repeatable-read snapshot,
/// with which of this process's pending debits (journal transactions, or captures still to
/// be posted as one) that snapshot holds (read after the
/// snapshot is taken: a debit is registered before its commit, so any commit the snapshot
/// sees is pending by then).
pub fn load_snapshot(
    conn: &mut PgConnection,
    currency: &str,
    spending: &Spending,
) -> QueryResult<Funds> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(|conn| {
            let orgs = load(conn, None, currency)?;
            let pending = spending.pending_journals();
            let mut included: HashSet<Uuid> = journal::table
                .filter(journal::id.eq_any(&pending))
                .select(journal::id)
                .load::<Uuid>(conn)?
                .into_iter()
                .collect();
            // A posted capture is held whether or not it cost anything: one the poster
            // found nothing to charge for has no journal transaction to wait for.
            let captures: Vec<(Uuid, bool)> = usage_captures::table
                .filter(usage_captures::journal_id.eq_any(&pending))
                .select((
                    usage_captures::journal_id,
                    usage_captures::posted_at.is_not_null(),
                ))
                .load(conn)?;
            included.extend(
                captures
                    .iter()
                    .filter(|(_, posted)| *posted)
                    .map(|(id, _)| *id),
            );
            // Neither a journal transaction nor a capture, long after it was registered: a
            // posted capture that cost nothing and has been pruned since.
            let captured: HashSet<Uuid> = captures.into_iter().map(|(id, _)| id).collect();
            // The real clock, not the platform's: UUIDv7 ids carry the real time.
            let now = time::OffsetDateTime::now_utc();
            let gone: Vec<Uuid> = pending
                .iter()
                .filter(|id| !included.contains(id) && !captured.contains(id))
                .filter(|id| registered_before(id, now - FORGET_AFTER))
                .copied()
                .collect();
            included.extend(gone);
            Ok(Funds { orgs, included })
        })
}

/// How long after its registration a local debit with neither a journal transaction nor a
/// capture behind it is taken as held: longer than any commit takes, shorter than captures
/// are kept after posting.
const FORGET_AFTER: time::Duration = time::Duration::minutes(30);

/// Whether journal id `id` (a UUIDv7, made when its debit was registered) is older than `at`.
fn registered_before(id: &Uuid, at: time::OffsetDateTime) -> bool {
    let Some(stamp) = id.get_timestamp() else {
        return false;
    };
    let (secs, nanos) = stamp.to_unix();
    let made = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    made < at.unix_timestamp_nanos()
}

/// Funds in `currency` of `orgs` (every organization when `None`), derived from postings.
pub fn load(
    conn: &mut PgConnection,
    orgs: Option<&[Uuid]>,
    currency: &str,
) -> QueryResult<HashMap<Uuid, OrgFunds>> {
    let mut funds: HashMap<Uuid, OrgFunds> = HashMap::new();
    let accounts = org_accounts(conn, orgs, currency)?;
    let ids: Vec<Uuid> = accounts.keys().copied().collect();
    let lots = lots(conn, orgs, currency)?;
    let mut remaining: HashMap<Uuid, Decimal> = HashMap::new();
    for (account, grant, total) in sums(conn, &ids)? {
        let Some((org, kind)) = accounts.get(&account) else {
            continue;
        };
        let org_funds = slot(&mut funds, *org, currency);
        match (kind.as_str(), grant) {
            ("prepaid", _) => org_funds.prepaid += total,
            (_, Some(grant)) => *remaining.entry(grant).or_default() += total,
            _ => {}
        }
    }
    for (org, mut lot) in lots {
        lot.remaining = remaining.get(&lot.grant_id).copied().unwrap_or_default();
        slot(&mut funds, org, currency).lots.push(lot);
    }
    for (org, limit) in latest_credit_lines(conn, orgs, currency)? {
        slot(&mut funds, org, currency).credit_line = limit;
    }
    for (org, state) in latest_states(conn, orgs, currency)? {
        slot(&mut funds, org, currency).state = BalanceState::parse(&state);
    }
    Ok(funds)
}

fn slot<'a>(funds: &'a mut HashMap<Uuid, OrgFunds>, org: Uuid, currency: &str) -> &'a mut OrgFunds {
    funds
        .entry(org)
        .or_insert_with(|| OrgFunds::empty(currency))
}

/// Organizations' accounts: id -> (organization, kind).
fn org_accounts(
    conn: &mut PgConnection,
    orgs: Option<&[Uuid]>,
    currency: &str,
) -> QueryResult<HashMap<Uuid, (Uuid, String)>> {
    let mut query = accounts::table
        .filter(accounts::currency.eq(currency))
        .select((accounts::id, accounts::organization_id, accounts::kind))
        .into_boxed();
    if let Some(orgs) = orgs {
        query = query.filter(accounts::organization_id.eq_any(orgs.to_vec()));
    }
    let rows: Vec<(Uuid, Option<Uuid>, String)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, org, kind)| org.map(|org| (id, (org, kind))))
        .collect())
}

/// Postings summed per account and lot, from the running sums the posting transactions
/// keep (see `posting::add_to_balances`).
fn sums(
    conn: &mut PgConnection,
    accounts: &[Uuid],
) -> QueryResult<Vec<(Uuid, Option<Uuid>, Decimal)>> {
    let rows: Vec<(Uuid, Uuid, Decimal)> = account_balances::table
        .filter(account_balances::account_id.eq_any(accounts))
        .select((
            account_balances::account_id,
            account_balances::grant_key,
            account_balances::amount_minor,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(account, grant, total)| (account, (!grant.is_nil()).then_some(grant), total))
        .collect())
}

type LotRow = (
    Uuid,
    Uuid,
    Decimal,
    i32,
    Option<OffsetDateTime>,
    OffsetDateTime,
    String,
);

/// Every promotional lot (remaining filled in by the caller).
fn lots(
    conn: &mut PgConnection,
    orgs: Option<&[Uuid]>,
    currency: &str,
) -> QueryResult<Vec<(Uuid, Lot)>> {
    let mut query = grants::table
        .filter(grants::currency.eq(currency))
        .select((
            grants::id,
            grants::organization_id,
            grants::amount_minor,
            grants::priority,
            grants::expires_at,
            grants::created_at,
            grants::reason,
        ))
        .into_boxed();
    if let Some(orgs) = orgs {
        query = query.filter(grants::organization_id.eq_any(orgs.to_vec()));
    }
    let rows: Vec<LotRow> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, org, amount, priority, expires_at, created_at, reason)| {
                let lot = Lot {
                    grant_id: id,
                    amount,
                    remaining: Decimal::ZERO,
                    priority,
                    expires_at,
                    created_at,
                    reason,
                };
                (org, lot)
            },
        )
        .collect())
}

fn latest_credit_lines(
    conn: &mut PgConnection,
    orgs: Option<&[Uuid]>,
    currency: &str,
) -> QueryResult<Vec<(Uuid, Decimal)>> {
    let mut query = credit_lines::table
        .filter(credit_lines::currency.eq(currency))
        .distinct_on(credit_lines::organization_id)
        .order((credit_lines::organization_id, credit_lines::seq.desc()))
        .select((credit_lines::organization_id, credit_lines::limit_minor))
        .into_boxed();
    if let Some(orgs) = orgs {
        query = query.filter(credit_lines::organization_id.eq_any(orgs.to_vec()));
    }
    query.load(conn)
}

fn latest_states(
    conn: &mut PgConnection,
    orgs: Option<&[Uuid]>,
    currency: &str,
) -> QueryResult<Vec<(Uuid, String)>> {
    let mut query = balance_states::table
        .filter(balance_states::currency.eq(currency))
        .distinct_on(balance_states::organization_id)
        .order((balance_states::organization_id, balance_states::seq.desc()))
        .select((balance_states::organization_id, balance_states::state))
        .into_boxed();
    if let Some(orgs) = orgs {
        query = query.filter(balance_states::organization_id.eq_any(orgs.to_vec()));
    }
    query.load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debit_is_old_by_the_time_in_its_uuidv7_and_an_id_without_one_never_is() {
        let now = time::OffsetDateTime::now_utc();
        let minutes_ago = |m: u64| {
            let at = std::time::SystemTime::now() - std::time::Duration::from_secs(m * 60);
            let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                since.as_secs(),
                0,
            ))
        };
        assert!(registered_before(&minutes_ago(31), now - FORGET_AFTER));
        assert!(!registered_before(&minutes_ago(29), now - FORGET_AFTER));
        assert!(!registered_before(&Uuid::nil(), now - FORGET_AFTER));
    }
}
