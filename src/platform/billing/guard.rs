//! The spend guard: reservations answered from memory. Available funds are the loaded
//! funds snapshot, minus this process's debits that snapshot does not hold yet, minus the
//! holds open here. Other processes' commits arrive with the snapshot's reload (NOTIFY,
//! within a second).
//!
//! Which local debits a load holds is decided by the load itself: a debit is registered
//! (with its journal transaction) before its transaction commits, and each load, inside
//! one repeatable-read snapshot, looks up which registered journal transactions it can
//! see. A debit is therefore counted exactly once, never zero times: not yet visible, it
//! is subtracted here; visible, the snapshot holds it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rust_decimal::Decimal;
use uuid::Uuid;

use super::SpendGuard;
use super::funds::{Funds, OrgFunds};
use super::money;
use super::prices::{PriceBook, PriceKey};
use super::usage::Estimate;
use crate::base::clock::Clock;
use crate::base::db::snapshot::Snapshot;
use crate::platform::iam::{OrganizationId, ProjectId};

/// Shards of the per-organization state: reserves of different organizations rarely wait
/// on each other.
const SHARDS: usize = 64;

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpendRefusal {
    /// The organization's available funds do not cover the worst case.
    #[error("insufficient funds: {required} {currency} needed, {available} available")]
    Insufficient {
        /// Worst-case cost, minor units.
        required: Decimal,
        /// What was available, minor units.
        available: Decimal,
        /// ISO 4217 code.
        currency: String,
    },
    /// No price covers an estimate: usage that cannot be priced is not admitted.
    #[error("no price for {0}")]
    Unpriced(String),
}

/// What this process knows of one organization beyond the snapshot.
#[derive(Debug, Default)]
struct Local {
    /// Sum of open holds.
    held: Decimal,
    /// Debits this process wrote: (journal transaction, amount).
    spent: Vec<(Uuid, Decimal)>,
}

impl Local {
    /// Forgets the debits `funds` holds.
    fn prune(&mut self, funds: &Funds) {
        self.spent
            .retain(|(journal, _)| !funds.included.contains(journal));
    }
}

/// What this process holds and spends beyond the funds snapshot; shared by the guard, its
/// holds and the snapshot's loader.
pub struct Spending {
    shards: Vec<Mutex<HashMap<Uuid, Local>>>,
    overruns: AtomicU64,
}

impl Default for Spending {
    fn default() -> Spending {
        Spending {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            overruns: AtomicU64::new(0),
        }
    }
}

impl Spending {
    /// Every journal transaction of a local debit not yet known to be in a load.
    pub fn pending_journals(&self) -> Vec<Uuid> {
        (0..SHARDS)
            .flat_map(|i| {
                let shard = match self.shards[i].lock() {
                    Ok(guard) => guard,
                    Err(poisoned) => poisoned.into_inner(),
                };
                shard
                    .values()
                    .flat_map(|l| l.spent.iter().map(|(j, _)| *j))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn shard(&self, org: Uuid) -> MutexGuard<'_, HashMap<Uuid, Local>> {
        let index = (org.as_u128() % SHARDS as u128) as usize;
        match self.shards[index].lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn unhold(&self, org: Uuid, amount: Decimal) {
        if let Some(local) = self.shard(org).get_mut(&org) {
            local.held -= amount;
        }
    }
}

/// A reservation. Dropping it without `settle` or `release` releases it, so a request
/// that ends any way at all frees what it held.
pub struct Hold {
    organization: Uuid,
    amount: Decimal,
    state: Arc<Spending>,
    open: bool,
}

impl Hold {
    /// The worst-case cost held, minor units.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    fn close(mut self) -> Decimal {
        self.open = false;
        self.state.unhold(self.organization, self.amount);
        self.amount
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.open {
            self.state.unhold(self.organization, self.amount);
        }
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("organization", &self.organization)
            .field("amount", &self.amount)
            .finish()
    }
}

/// The guard over the funds and price snapshots.
#[derive(Clone)]
pub struct Guard {
    funds: Snapshot<Funds>,
    prices: Snapshot<PriceBook>,
    clock: Arc<dyn Clock>,
    currency: String,
    state: Arc<Spending>,
}

impl Guard {
    /// A guard over these snapshots, pricing in `currency`; `spending` is shared with the
    /// funds loader, which reads which local debits each load holds.
    pub fn new(
        funds: Snapshot<Funds>,
        prices: Snapshot<PriceBook>,
        clock: Arc<dyn Clock>,
        currency: String,
        spending: Arc<Spending>,
    ) -> Guard {
        Guard {
            funds,
            prices,
            clock,
            currency,
            state: spending,
        }
    }

    /// Registers debits (organization, journal transaction, amount) before their
    /// transaction commits, so reserves count them until a load holds them.
    pub fn spent(&self, debits: &[(Uuid, Uuid, Decimal)]) {
        let funds = self.funds.get();
        for (org, journal, amount) in debits {
            let mut shard = self.state.shard(*org);
            let local = shard.entry(*org).or_default();
            local.prune(&funds);
            local.spent.push((*journal, *amount));
        }
    }

    /// Withdraws debits whose transaction did not commit.
    pub fn unspent(&self, debits: &[(Uuid, Uuid, Decimal)]) {
        for (org, journal, _) in debits {
            if let Some(local) = self.state.shard(*org).get_mut(org) {
                local.spent.retain(|(j, _)| j != journal);
            }
        }
    }

    /// Prices estimates with the price book in memory.
    pub fn cost(&self, estimates: &[Estimate]) -> Result<Decimal, SpendRefusal> {
        let book = self.prices.get();
        let now = self.clock.now();
        estimates.iter().try_fold(Decimal::ZERO, |total, e| {
            let key = PriceKey {
                product: &e.product,
                unit: &e.unit,
                resource_type: &e.resource_type,
                resource_id: &e.resource_id,
                currency: &self.currency,
            };
            let unpriced = || SpendRefusal::Unpriced(format!("{} of {}", e.unit, e.resource_id));
            let price = book.price_at(key, now).ok_or_else(unpriced)?;
            let amount = money::rate(e.quantity, price.unit_price_minor).ok_or_else(unpriced)?;
            Ok(total + amount)
        })
    }

    fn admit(&self, org: Uuid, required: Decimal) -> Result<Hold, SpendRefusal> {
        let funds = self.funds.get();
        let empty = OrgFunds::empty(&self.currency);
        let loaded = funds.orgs.get(&org).unwrap_or(&empty);
        let now = self.clock.now();
        let mut shard = self.state.shard(org);
        let local = shard.entry(org).or_default();
        local.prune(&funds);
        let spent: Decimal = local.spent.iter().map(|(_, amount)| *amount).sum();
        let available = loaded.available(now) - spent - local.held;
        if available <= Decimal::ZERO || required > available {
            return Err(SpendRefusal::Insufficient {
                required,
                available: available.max(Decimal::ZERO),
                currency: self.currency.clone(),
            });
        }
        local.held += required;
        Ok(Hold {
            organization: org,
            amount: required,
            state: Arc::clone(&self.state),
            open: true,
        })
    }
}

impl SpendGuard for Guard {
    fn reserve(
        &self,
        organization: OrganizationId,
        _project: ProjectId,
        worst_case: &[Estimate],
    ) -> Result<Hold, SpendRefusal> {
        let required = self.cost(worst_case)?;
        self.admit(organization.0, required)
    }

    fn settle(&self, hold: Hold, actual: &[Estimate]) {
        let held = hold.close();
        let over = self.cost(actual).is_ok_and(|cost| cost > held);
        if over {
            self.state.overruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn release(&self, hold: Hold) {
        hold.close();
    }

    fn overruns(&self) -> u64 {
        self.state.overruns.load(Ordering::Relaxed)
    }
}
