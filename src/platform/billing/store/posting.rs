//! Posting: journal transactions and their legs, and the balance-state transition each
//! may cause. Every function here runs inside its caller's transaction.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::super::BillingError;
use super::super::funds::{BalanceState, OrgFunds};
use super::super::schema::{accounts, balance_states, journal, postings};
use super::rows::{AccountRow, JournalRow, PostingRow, StateRow};
use super::{funds_load, lock_organizations, notify_funds};
use crate::base::clock::Clock;
use crate::platform::events::{Events, Message};

/// Who posts usage: billing itself, on the product's behalf.
const USAGE_POSTER: &str = "billing";

/// What posting needs besides the connection.
#[derive(Clone)]
pub struct Writer {
    /// Announces balance-state transitions.
    pub events: Arc<dyn Events>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// The billing currency.
    pub currency: String,
    /// Below this, available funds are `low_balance`.
    pub low_balance: Decimal,
    /// Accounts known to exist, by (organization, kind): looked up once, not in every
    /// group commit (accounts are never deleted).
    pub known_accounts: Arc<dashmap::DashMap<(Option<Uuid>, String), Uuid>>,
}

/// Rated usage of one organization from one batch, to post as journal transaction
/// `journal` (an id chosen beforehand, so a spend guard can wait for it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageDebit {
    /// The journal transaction's id.
    pub journal: Uuid,
    /// Whose funds it draws on.
    pub organization: Uuid,
    /// The batch the usage was captured in (the transaction's source).
    pub batch: Uuid,
    /// Minor units, positive.
    pub amount: Decimal,
}

/// Writes journal transactions and their postings, each as one multi-row statement.
/// The database refuses the commit if any transaction does not sum to zero.
pub fn post(
    conn: &mut PgConnection,
    journals: &[JournalRow],
    legs: &[PostingRow],
) -> QueryResult<()> {
    for chunk in journals.chunks(2000) {
        diesel::insert_into(journal::table)
            .values(chunk)
            .execute(conn)?;
    }
    for chunk in legs.chunks(5000) {
        diesel::insert_into(postings::table)
            .values(chunk)
            .execute(conn)?;
    }
    add_to_balances(conn, legs)?;
    notify_funds(conn)
}

/// Adds the legs on organization accounts to their running sums (`account_balances`), in
/// key order. Platform accounts (revenue, clearing) are left out: every organization's
/// commit posts to them, and a running row of theirs would serialize all commits.
fn add_to_balances(conn: &mut PgConnection, legs: &[PostingRow]) -> QueryResult<()> {
    use super::super::schema::account_balances as b;
    use diesel::upsert::excluded;
    let ids: Vec<Uuid> = legs.iter().map(|l| l.account_id).collect();
    let org_accounts: std::collections::HashSet<Uuid> = accounts::table
        .filter(accounts::id.eq_any(&ids))
        .filter(accounts::organization_id.is_not_null())
        .select(accounts::id)
        .load::<Uuid>(conn)?
        .into_iter()
        .collect();
    let mut sums: std::collections::BTreeMap<(Uuid, Uuid), Decimal> =
        std::collections::BTreeMap::new();
    for leg in legs.iter().filter(|l| org_accounts.contains(&l.account_id)) {
        *sums
            .entry((leg.account_id, leg.grant_id.unwrap_or(Uuid::nil())))
            .or_default() += leg.amount_minor;
    }
    let rows: Vec<_> = sums
        .into_iter()
        .map(|((account, grant), amount)| {
            (
                b::account_id.eq(account),
                b::grant_key.eq(grant),
                b::amount_minor.eq(amount),
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        diesel::insert_into(b::table)
            .values(chunk)
            .on_conflict((b::account_id, b::grant_key))
            .do_update()
            .set(b::amount_minor.eq(b::amount_minor + excluded(b::amount_minor)))
            .execute(conn)?;
    }
    Ok(())
}

impl Writer {
    /// An organization's account (`Some(org)`) or a platform account (`None`) of `kind`
    /// in the billing currency, created on first use.
    pub fn account(
        &self,
        conn: &mut PgConnection,
        org: Option<Uuid>,
        kind: &str,
    ) -> QueryResult<Uuid> {
        let key = (org, kind.to_owned());
        if let Some(id) = self.known_accounts.get(&key) {
            return Ok(*id);
        }
        let row = AccountRow {
            id: Uuid::now_v7(),
            organization_id: org,
            kind,
            currency: &self.currency,
            created_at: self.clock.now(),
        };
        let created = diesel::insert_into(accounts::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(conn)?;
        let mut query = accounts::table
            .filter(accounts::kind.eq(kind))
            .filter(accounts::currency.eq(&self.currency))
            .select(accounts::id)
            .into_boxed();
        query = match org {
            Some(org) => query.filter(accounts::organization_id.eq(org)),
            None => query.filter(accounts::organization_id.is_null()),
        };
        let id = query.first(conn)?;
        // Remembered only when it existed before this transaction: one made here vanishes
        // if the transaction rolls back.
        if created == 0 {
            self.known_accounts.insert(key, id);
        }
        Ok(id)
    }

    /// Posts each debit as its own journal transaction (with the id it names), drawing on
    /// the organization's lots then its prepaid balance, and credits platform revenue.
    pub fn post_usage(
        &self,
        conn: &mut PgConnection,
        debits: &[UsageDebit],
    ) -> Result<(), BillingError> {
        if debits.is_empty() {
            return Ok(());
        }
        let orgs: Vec<Uuid> = debits.iter().map(|d| d.organization).collect();
        lock_organizations(conn, &orgs)?;
        let mut funds = funds_load::load(conn, Some(&orgs), &self.currency)?;
        let revenue = self.account(conn, None, "revenue")?;
        let now = self.clock.now();
        let (mut journals, mut legs, mut last) = (Vec::new(), Vec::new(), HashMap::new());
        for debit in debits {
            let org = debit.organization;
            let org_funds = funds
                .entry(org)
                .or_insert_with(|| OrgFunds::empty(&self.currency));
            let source = ("usage_batch", debit.batch.to_string());
            let mut entry = JournalRow::new(Some(org), "usage", source, USAGE_POSTER.into(), now);
            entry.id = debit.journal;
            let parts = org_funds.draw(debit.amount, now);
            // Each account looked up once per organization, not once per lot drawn.
            let (mut prepaid, mut promotional) = (None, None);
            for (lot, part) in &parts {
                let (slot, kind) = match lot {
                    Some(_) => (&mut promotional, "promotional"),
                    None => (&mut prepaid, "prepaid"),
                };
                let account = match *slot {
                    Some(id) => id,
                    None => *slot.insert(self.account(conn, Some(org), kind)?),
                };
                legs.push(self.leg(entry.id, account, *lot, -*part));
            }
            legs.push(self.leg(entry.id, revenue, None, debit.amount));
            org_funds.apply_draw(&parts);
            last.insert(org, entry.id);
            journals.push(entry);
        }
        post(conn, &journals, &legs)?;
        for (org, journal_id) in &last {
            if let Some(after) = funds.get(org) {
                self.record_state(conn, *org, after, Some(*journal_id))?;
            }
        }
        Ok(())
    }

    /// Posts `entry` as money received for `org`: prepaid +amount, payments clearing
    /// −amount (a top-up, a card payment). Returns the transaction's id.
    pub fn receive(
        &self,
        conn: &mut PgConnection,
        entry: JournalRow,
        org: Uuid,
        amount: Decimal,
    ) -> QueryResult<Uuid> {
        let id = entry.id;
        let legs = [
            self.leg(id, self.account(conn, Some(org), "prepaid")?, None, amount),
            self.leg(
                id,
                self.account(conn, None, "payments_clearing")?,
                None,
                -amount,
            ),
        ];
        post(conn, &[entry], &legs)?;
        Ok(id)
    }

    /// Records the state `org`'s funds are in after this transaction's postings (or its
    /// credit-line change, `None`).
    pub fn settle_state(
        &self,
        conn: &mut PgConnection,
        org: Uuid,
        journal_id: Option<Uuid>,
    ) -> Result<(), BillingError> {
        let after = self.funds_now(conn, org)?;
        self.record_state(conn, org, &after, journal_id)?;
        Ok(())
    }

    /// A leg in the billing currency.
    pub fn leg(
        &self,
        journal: Uuid,
        account: Uuid,
        lot: Option<Uuid>,
        amount: Decimal,
    ) -> PostingRow {
        PostingRow {
            journal_id: journal,
            account_id: account,
            currency: self.currency.clone(),
            grant_id: lot,
            amount_minor: amount,
        }
    }

    /// After a change to `org`'s funds: its state now, recorded (with one outbox event)
    /// only when it differs from the last recorded one.
    pub fn record_state(
        &self,
        conn: &mut PgConnection,
        org: Uuid,
        after: &OrgFunds,
        journal_id: Option<Uuid>,
    ) -> Result<BalanceState, BillingError> {
        let now = self.clock.now();
        let available = after.available(now);
        let state = BalanceState::of(available, self.low_balance);
        if state == after.state {
            return Ok(state);
        }
        diesel::insert_into(balance_states::table)
            .values(StateRow {
                organization_id: org,
                currency: self.currency.clone(),
                state: state.as_str(),
                available_minor: available,
                journal_id,
                at: now,
            })
            .execute(conn)?;
        let payload = json!({
            "organization_id": org,
            "currency": self.currency,
            "from": after.state.as_str(),
            "to": state.as_str(),
            "available_minor": available.to_string(),
            "journal_id": journal_id,
        });
        self.events
            .publish_in(conn, Message::new(state.subject(), payload))
            .map_err(|err| {
                BillingError::Unavailable(format!("announcing {}: {err}", state.subject()))
            })?;
        Ok(state)
    }

    /// `org`'s funds as this transaction sees them, after its own postings.
    pub fn funds_now(&self, conn: &mut PgConnection, org: Uuid) -> QueryResult<OrgFunds> {
        let mut funds = funds_load::load(conn, Some(&[org]), &self.currency)?;
        Ok(funds
            .remove(&org)
            .unwrap_or_else(|| OrgFunds::empty(&self.currency)))
    }
}
