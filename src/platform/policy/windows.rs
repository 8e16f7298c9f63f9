//! The counters decisions check, one per ceiling and scope, all in memory.
//!
//! - A rate is a GCRA (generic cell rate algorithm) over nanoseconds: `limit` units per
//!   `window`, all of them available in one burst, refilled continuously. Its state is one
//!   "theoretical arrival time" kept in units of `ns × limit`, so every step is exact
//!   integer arithmetic.
//! - A quota counts a calendar period: what billing's quota feed reported (`base`), what
//!   was admitted and not yet settled (`open`), and what was settled since the feed was last
//!   read (`settled`), which the next read takes over.
//! - Concurrency and capacity count what is held now.

/// Nanoseconds.
pub type Nanos = u64;

/// A rate window's state.
#[derive(Debug, Clone, Default)]
pub struct Gcra {
    /// Theoretical arrival time, in `ns × limit`.
    tat: u128,
    /// The limit `tat` is scaled by.
    limit: u64,
}

/// A rate check's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// Whether the request fits.
    pub fits: bool,
    /// Units left in the window after this request (or now, for a refusal).
    pub remaining: u64,
    /// Until the window is full again.
    pub reset_after: Nanos,
    /// For a refusal: until the request would fit (`None`: it never fits, being larger than
    /// the limit).
    pub retry_after: Option<Nanos>,
}

impl Gcra {
    fn rescale(&mut self, limit: u64) {
        if self.limit != limit {
            if self.limit > 0 {
                self.tat = self.tat * u128::from(limit) / u128::from(self.limit);
            }
            self.limit = limit;
        }
    }

    /// Whether `cost` fits now; nothing changes.
    pub fn check(&mut self, limit: u64, window: Nanos, now: Nanos, cost: u64) -> RateState {
        self.rescale(limit);
        let (l, w, now) = (
            u128::from(limit),
            u128::from(window),
            u128::from(now) * u128::from(limit),
        );
        let start = self.tat.max(now);
        let after = start + u128::from(cost) * w;
        let fits = after - now <= w * l;
        let left_at = |tat: u128| ((w * l).saturating_sub(tat - now) / w.max(1)) as u64;
        match fits {
            true => RateState {
                fits: true,
                remaining: left_at(after),
                reset_after: ceil_div(after - now, l),
                retry_after: None,
            },
            false => RateState {
                fits: false,
                remaining: left_at(start),
                reset_after: ceil_div(start - now, l),
                retry_after: (u128::from(cost) <= l).then(|| ceil_div(after - now - w * l, l)),
            },
        }
    }

    /// Takes `cost` (after a check said it fits).
    pub fn take(&mut self, window: Nanos, now: Nanos, cost: u64) {
        let now = u128::from(now) * u128::from(self.limit);
        self.tat = self.tat.max(now) + u128::from(cost) * u128::from(window);
    }

    /// Gives back `unused` of what was taken (never beyond a full window).
    pub fn give_back(&mut self, window: Nanos, unused: u64) {
        self.tat = self
            .tat
            .saturating_sub(u128::from(unused) * u128::from(window));
    }

    /// Adds `extra` past what was taken, admitted or not (the actual exceeded the
    /// estimate): it pushes the window's next free unit later.
    pub fn push_back(&mut self, window: Nanos, extra: u64) {
        self.tat = self
            .tat
            .saturating_add(u128::from(extra) * u128::from(window));
    }

    /// Units taken and not yet refilled at `now`.
    pub fn used(&self, window: Nanos, now: Nanos) -> u64 {
        let now = u128::from(now) * u128::from(self.limit);
        u64::try_from(
            self.tat
                .saturating_sub(now)
                .div_ceil(u128::from(window.max(1))),
        )
        .unwrap_or(u64::MAX)
    }
}

fn ceil_div(n: u128, d: u128) -> Nanos {
    let d = d.max(1);
    u64::try_from(n.div_ceil(d)).unwrap_or(u64::MAX)
}

/// A quota's count for one period.
#[derive(Debug, Clone, Default)]
pub struct QuotaCount {
    /// The period counted (its [`super::dimensions::Period::key`]).
    pub period: u32,
    /// From billing's quota feed.
    pub base: u64,
    /// Admitted, not settled.
    pub open: u64,
    /// Settled since the last feed read began.
    pub settled: u64,
    /// Settled before the feed read now under way began (dropped when it lands).
    pub settled_before_read: u64,
}

impl QuotaCount {
    /// Everything counted.
    pub fn used(&self) -> u64 {
        self.base
            .saturating_add(self.open)
            .saturating_add(self.settled)
            .saturating_add(self.settled_before_read)
    }

    /// Starts counting `period` afresh if it is a new one.
    pub fn roll(&mut self, period: u32) {
        if self.period != period {
            *self = QuotaCount {
                period,
                ..QuotaCount::default()
            };
        }
    }

    /// A feed read begins: what is settled so far will be in it.
    pub fn read_begins(&mut self) {
        self.settled_before_read = self.settled_before_read.saturating_add(self.settled);
        self.settled = 0;
    }

    /// A feed read for `period` landed with `base`.
    pub fn read_landed(&mut self, period: u32, base: u64) {
        if self.period == period {
            self.base = base;
            self.settled_before_read = 0;
        }
    }

    /// Settles `reserved` admitted units as `actual`.
    pub fn settle(&mut self, reserved: u64, actual: u64) {
        self.open = self.open.saturating_sub(reserved);
        self.settled = self.settled.saturating_add(actual);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Nanos = 1_000_000_000;

    #[test]
    fn a_rate_admits_its_limit_in_a_burst_then_says_when_the_next_fits() {
        let (mut g, window) = (Gcra::default(), 60 * SEC);
        for n in 0..3 {
            let state = g.check(3, window, 10 * SEC, 1);
            assert_eq!(state.retry_after, None, "request {n}");
            assert_eq!(state.remaining, 2 - n);
            g.take(window, 10 * SEC, 1);
        }
        let refused = g.check(3, window, 10 * SEC, 1);
        assert_eq!(refused.retry_after, Some(20 * SEC));
        assert_eq!(refused.remaining, 0);
        assert_eq!(g.check(3, window, 30 * SEC - 1, 1).retry_after, Some(1));
        assert_eq!(g.check(3, window, 30 * SEC, 1).retry_after, None);
    }

    #[test]
    fn a_cost_above_the_limit_never_fits_and_given_back_units_fit_again() {
        let (mut g, window) = (Gcra::default(), SEC);
        let too_big = g.check(100, window, 0, 101);
        assert_eq!((too_big.retry_after, too_big.remaining), (None, 100));
        g.take(window, 0, 100);
        assert!(g.check(100, window, 0, 10).retry_after.is_some());
        g.give_back(window, 40);
        assert_eq!(g.check(100, window, 0, 40).retry_after, None);
        assert!(g.check(100, window, 0, 41).retry_after.is_some());
    }

    #[test]
    fn a_quota_read_keeps_what_was_settled_while_it_ran() {
        let mut q = QuotaCount::default();
        q.roll(202612);
        q.open = 10;
        q.settle(10, 7);
        q.read_begins();
        q.open += 5;
        q.settle(5, 5);
        q.read_landed(202612, 107);
        assert_eq!(q.used(), 112);
        q.roll(202701);
        assert_eq!(q.used(), 0);
    }
}
