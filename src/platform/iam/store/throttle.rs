//! Counting password attempts so that guessing is slow for an attacker and never locks the
//! owner out.
//!
//! An attempt is counted *before* its password is checked, under advisory locks on the
//! address and on the account-from-this-address pair, so parallel guesses cannot all pass
//! the check between a count and an insert. Limits apply per address and per account from
//! one address: an attacker guessing `admin@…` from one address is stopped there, while
//! the owner's right password from another address still signs in. An attempt that turns
//! out right is forgotten again.

use diesel::prelude::*;
use diesel::sql_types::Text;
use time::{Duration, OffsetDateTime};

use super::super::IamError;
use super::super::schema::sign_in_failures;

/// How long a failed attempt counts.
pub(super) const WINDOW_MINUTES: i64 = 15;
/// Failed attempts at one account from one address within the window.
const MAX_PER_ACCOUNT_AND_ADDRESS: i64 = 5;
/// Failed attempts from one address over all accounts within the window.
const MAX_PER_ADDRESS: i64 = 20;

/// A counted attempt, until its password turns out right.
pub(super) struct Attempt {
    id: i64,
    /// Failed attempts at this account from every address in the window, this one included.
    pub(super) account_failures: i64,
}

/// Counts an attempt at `email` from `ip`, or refuses it when either limit is reached.
pub(super) fn count_attempt(
    conn: &mut PgConnection,
    email: &str,
    ip: &str,
    now: OffsetDateTime,
) -> Result<Attempt, IamError> {
    let email = email.to_lowercase();
    let since = now - Duration::minutes(WINDOW_MINUTES);
    conn.transaction(|conn| {
        // Always in this order, so two attempts never wait on each other's second lock.
        lock(conn, &format!("sign-in address {ip}"))?;
        lock(conn, &format!("sign-in account {email} from {ip}"))?;
        let by_address = failures(since).filter(sign_in_failures::client_ip.eq(ip));
        let by_address: i64 = by_address.count().get_result(conn)?;
        let by_pair: i64 = failures(since)
            .filter(sign_in_failures::client_ip.eq(ip))
            .filter(sign_in_failures::email.eq(&email))
            .count()
            .get_result(conn)?;
        if by_pair >= MAX_PER_ACCOUNT_AND_ADDRESS || by_address >= MAX_PER_ADDRESS {
            return Err(IamError::Throttled(format!(
                "too many failed attempts from this address; try again in {WINDOW_MINUTES} minutes"
            )));
        }
        let id = diesel::insert_into(sign_in_failures::table)
            .values((
                sign_in_failures::email.eq(&email),
                sign_in_failures::client_ip.eq(ip),
                sign_in_failures::at.eq(now),
            ))
            .returning(sign_in_failures::id)
            .get_result(conn)?;
        let account_failures = failures(since)
            .filter(sign_in_failures::email.eq(&email))
            .count()
            .get_result(conn)?;
        Ok(Attempt {
            id,
            account_failures,
        })
    })
}

/// Forgets an attempt whose password was right: it was no failure.
pub(super) fn forget(conn: &mut PgConnection, attempt: Attempt) -> QueryResult<()> {
    diesel::delete(sign_in_failures::table.find(attempt.id)).execute(conn)?;
    Ok(())
}

fn failures(since: OffsetDateTime) -> sign_in_failures::BoxedQuery<'static, diesel::pg::Pg> {
    sign_in_failures::table
        .filter(sign_in_failures::at.gt(since))
        .into_boxed()
}

fn lock(conn: &mut PgConnection, key: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(key)
        .execute(conn)
        .map(drop)
}
