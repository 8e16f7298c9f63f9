//! What an admitted decision holds until it is corrected or dropped: concurrency and
//! capacity slots (freed on drop, whatever the reason: completion, error, a client that went
//! away), and the estimates taken from rates and quotas (corrected to the actual).

use std::sync::Arc;

use smallvec::SmallVec;
use time::OffsetDateTime;
use uuid::Uuid;

use super::admit::crossed;
use super::decision::Delta;
use super::dimensions::Period;
use super::engine::{Compiled, CompiledSet, Counter, Crossing, Signal, Signals};
use super::value::MAX_AMOUNT;

/// One ceiling taken from.
pub struct Held {
    /// Which requested dimension (in the set).
    pub dim: usize,
    /// Which of its ceilings.
    pub check: usize,
    /// How much was taken.
    pub amount: u64,
}

impl Held {
    /// The crossing of `threshold` by check `check` of `compiled`, now counting `used`.
    pub fn crossing(
        compiled: &Compiled,
        check: usize,
        organization: Uuid,
        at: OffsetDateTime,
        threshold: u64,
        used: u64,
    ) -> Crossing {
        let c = &compiled.checks[check];
        Crossing {
            organization,
            dimension: compiled.dimension.id.clone(),
            level: c.level,
            scope_id: c.counted_at.clone(),
            resource: c.resource.clone(),
            period: compiled.dimension.period.unwrap_or(Period::Month).of(at),
            threshold_permille: threshold,
            limit: c.value.amount().unwrap_or_default(),
            used,
        }
    }
}

/// What one admission took: a few ceilings, kept inline.
pub type Holdings = SmallVec<[Held; 6]>;

/// An admission. Dropping it frees what is held at once.
pub struct Admission {
    set: Arc<CompiledSet>,
    held: Holdings,
    organization: Uuid,
    decided_at: OffsetDateTime,
    signals: Option<Signals>,
    warn_permille: u64,
    settled: bool,
}

impl Admission {
    /// What a decision took.
    pub(super) fn new(
        set: Arc<CompiledSet>,
        held: Holdings,
        organization: Uuid,
        decided_at: OffsetDateTime,
        signals: Option<Signals>,
        warn_permille: u64,
    ) -> Admission {
        Admission {
            set,
            held,
            organization,
            decided_at,
            signals,
            warn_permille,
            settled: false,
        }
    }

    /// Corrects the reservation to what was actually used: unused units go back to rate
    /// windows, quotas count the actual instead of the estimate (record the usage with
    /// billing first: the next feed read counts it from there). Dimensions not named keep
    /// their estimate. Once only; later calls change nothing.
    pub fn correct(&mut self, actual: &[Delta]) {
        if self.settled {
            return;
        }
        self.settled = true;
        for held in &self.held {
            let dimension = &self.set.dims[held.dim].dimension;
            let used = actual
                .iter()
                .find(|d| d.dimension == dimension.id)
                .map_or(held.amount, |d| d.amount.min(MAX_AMOUNT));
            self.settle_one(held, used);
        }
    }

    fn settle_one(&self, held: &Held, used: u64) {
        let compiled = &self.set.dims[held.dim];
        let (check, window) = (&compiled.checks[held.check], compiled.dimension.window);
        let mut counter = check.bucket.lock();
        match &mut *counter {
            Counter::Rate(gcra) if used < held.amount => gcra.give_back(window, held.amount - used),
            Counter::Rate(gcra) => gcra.push_back(window, used - held.amount),
            Counter::Quota(count) => {
                let before = count.used();
                count.settle(held.amount, used);
                let after = count.used();
                drop(counter);
                let limit = check.value.amount().unwrap_or_default();
                if let (Some(threshold), Some(signals)) = (
                    crossed(before, after, limit, self.warn_permille),
                    &self.signals,
                ) {
                    let crossing = Held::crossing(
                        compiled,
                        held.check,
                        self.organization,
                        self.decided_at,
                        threshold,
                        after,
                    );
                    let _ = signals.send(Signal::Crossed(crossing));
                }
            }
            Counter::Held(_) => {}
        }
    }
}

impl Drop for Admission {
    /// Frees what is held at once (concurrency, capacity); an uncorrected quota keeps its
    /// estimate.
    fn drop(&mut self) {
        for held in &self.held {
            let mut counter = self.set.dims[held.dim].checks[held.check].bucket.lock();
            match &mut *counter {
                Counter::Held(n) => *n = n.saturating_sub(held.amount),
                Counter::Quota(count) if !self.settled => count.settle(held.amount, held.amount),
                _ => {}
            }
        }
    }
}
