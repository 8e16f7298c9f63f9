//! The atomic check-then-take: every ceiling of every requested dimension is checked under
//! its counter's lock (locks taken in one global order, by address), and taken from only if
//! all of them fit, so a refusal consumes nothing anywhere.

use std::borrow::Cow;
use std::sync::{Arc, MutexGuard};

use smallvec::SmallVec;

use time::OffsetDateTime;
use uuid::Uuid;

use super::admission::{Admission, Held};
use super::decision::Delta;
use super::decision::{Decision, LimitState, Outcome, Reason, SnapshotVersion};
use super::dimensions::{Dimension, Period};
use super::engine::{Check, Compiled, CompiledSet, Counter, Engine, Signal};
use super::feed::FeedState;
use super::value::Value;
use super::windows::Nanos;
use crate::platform::registry::packet::DimensionKind;

/// What was asked: an amount of each compiled dimension.
type Asked<'a> = [(u64, &'a Compiled)];

/// One check's verdict.
#[derive(Debug, Clone)]
enum Verdict {
    Fits {
        remaining: u64,
        reset_after: Option<Nanos>,
    },
    Refused {
        reason: Reason,
        retry_after: Option<Nanos>,
        message: String,
        remaining: u64,
        reset_after: Option<Nanos>,
    },
}

impl Engine {
    /// Checks everything asked for, then takes from all of it or from none.
    pub(super) fn admit(
        &self,
        set: &Arc<CompiledSet>,
        deltas: &[Delta],
        organization: Uuid,
        snapshot: SnapshotVersion,
        now: OffsetDateTime,
        mono: Nanos,
    ) -> (Decision, Option<Admission>) {
        let asked: SmallVec<[(u64, &Compiled); 4]> = deltas
            .iter()
            .zip(&set.dims)
            .map(|(d, c)| (d.amount, c))
            .collect();
        let asked = asked.as_slice();
        let mut order: SmallVec<[(usize, usize); 12]> = asked
            .iter()
            .enumerate()
            .flat_map(|(i, (_, c))| (0..c.checks.len()).map(move |j| (i, j)))
            .collect();
        order.sort_by_key(|(i, j)| Arc::as_ptr(&asked[*i].1.checks[*j].bucket) as usize);
        let feed = self.feed.state(organization);
        let mut locked: SmallVec<[(usize, usize, MutexGuard<'_, Counter>); 12]> = order
            .into_iter()
            .map(|(i, j)| (i, j, asked[i].1.checks[j].bucket.lock()))
            .collect();
        let verdicts: SmallVec<[(usize, Verdict); 12]> = locked
            .iter_mut()
            .map(|(i, j, counter)| {
                let (amount, compiled) = &asked[*i];
                let check = &compiled.checks[*j];
                (
                    *i,
                    evaluate(
                        check,
                        counter,
                        &compiled.dimension,
                        *amount,
                        now,
                        feed.as_ref(),
                        mono,
                    ),
                )
            })
            .collect();
        let limits = limit_states(asked, &verdicts, now);
        if let Some((reason, retry_after_ms, dimension, message)) = first_refusal(asked, &verdicts)
        {
            let refused = refusal(reason, Some(dimension), message.into(), snapshot, now);
            return (
                Decision {
                    retry_after_ms,
                    limits,
                    ..refused
                },
                None,
            );
        }
        let mut held = SmallVec::with_capacity(locked.len());
        let mut warn: Option<Arc<str>> = None;
        for (i, j, counter) in locked.iter_mut() {
            let (amount, compiled) = &asked[*i];
            let (check, dimension) = (&compiled.checks[*j], &compiled.dimension);
            let limit = check.value.amount().unwrap_or_default();
            let (before, after) = take(counter, dimension.window, *amount, mono);
            if warn.is_none() && past(after, limit, self.warn_permille) {
                warn = Some(Arc::clone(&dimension.name));
            }
            if dimension.kind == DimensionKind::Quota
                && let Some(threshold) = crossed(before, after, limit, self.warn_permille)
            {
                self.signal(Signal::Crossed(Held::crossing(
                    compiled,
                    *j,
                    organization,
                    now,
                    threshold,
                    after,
                )));
            }
            held.push(Held {
                dim: *i,
                check: *j,
                amount: *amount,
            });
        }
        drop(locked);
        let (decision, reason, message): (Outcome, Reason, Cow<'static, str>) = match &warn {
            Some(d) => (
                Outcome::Warn,
                Reason::NearLimit,
                format!(
                    "admitted; `{d}` is past {} % of its ceiling",
                    self.warn_permille / 10
                )
                .into(),
            ),
            None => (Outcome::Allow, Reason::Allowed, Cow::Borrowed("admitted")),
        };
        let decision = Decision {
            decision,
            reason,
            message,
            dimension: warn,
            entitlement: None,
            retry_after_ms: None,
            limits,
            snapshot,
            decided_at: now,
        };
        let admission = Admission::new(
            Arc::clone(set),
            held,
            organization,
            now,
            self.signals.clone(),
            self.warn_permille,
        );
        (decision, Some(admission))
    }
}

/// The highest threshold (warning fraction, then 100 %) `before → after` crossed.
pub fn crossed(before: u64, after: u64, limit: u64, warn_permille: u64) -> Option<u64> {
    [1000, warn_permille].into_iter().find(|t| {
        let mark = u128::from(limit) * u128::from(*t);
        u128::from(before) * 1000 < mark && u128::from(after) * 1000 >= mark
    })
}

fn evaluate(
    check: &Check,
    counter: &mut Counter,
    dimension: &Dimension,
    amount: u64,
    now: OffsetDateTime,
    feed: Option<&FeedState>,
    mono: Nanos,
) -> Verdict {
    let Value::Limit(limit) = check.value else {
        let why = format!(
            "`{}` is not entitled at the {} level",
            dimension.id,
            check.level.as_str()
        );
        return refused(Reason::EntitlementMissing, why, 0);
    };
    let at = |what: &str| {
        format!(
            "{what} of {limit} for `{}` at the {} level",
            dimension.id,
            check.level.as_str()
        )
    };
    if amount > limit {
        return refused(
            Reason::HardDeny,
            format!("{amount} asked is more than the whole {}", at("ceiling")),
            0,
        );
    }
    match counter {
        Counter::Rate(gcra) => {
            let state = gcra.check(limit, dimension.window, mono, amount);
            match state.fits {
                true => Verdict::Fits {
                    remaining: state.remaining,
                    reset_after: Some(state.reset_after),
                },
                false => Verdict::Refused {
                    reason: Reason::RateLimited,
                    retry_after: state.retry_after,
                    message: format!("{} per {} reached", at("rate limit"), dimension.window_text),
                    remaining: state.remaining,
                    reset_after: Some(state.reset_after),
                },
            }
        }
        Counter::Quota(count) => {
            let countable =
                !dimension.usage_units.is_empty() && dimension.period == Some(Period::Month);
            if !countable {
                let why = format!(
                    "`{}` names no usage billing's monthly quota feed counts",
                    dimension.id
                );
                return refused(Reason::HardDeny, why, 0);
            }
            if matches!(feed, Some(FeedState::Failed)) {
                let why = format!(
                    "usage for `{}` could not be read; try again shortly",
                    dimension.id
                );
                return refused(Reason::StaleSnapshot, why, 0);
            }
            count.roll(Period::Month.key(now));
            let used = count.used();
            match used.saturating_add(amount) <= limit {
                true => Verdict::Fits {
                    remaining: limit - used - amount,
                    reset_after: None,
                },
                false => {
                    let why = format!("{} for {} is used up", at("quota"), Period::Month.of(now));
                    refused(Reason::QuotaExhausted, why, limit.saturating_sub(used))
                }
            }
        }
        Counter::Held(held) => match held.saturating_add(amount) <= limit {
            true => Verdict::Fits {
                remaining: limit - *held - amount,
                reset_after: None,
            },
            false => {
                let reason = match dimension.kind {
                    DimensionKind::Capacity => Reason::NoCapacity,
                    _ => Reason::ConcurrencyExhausted,
                };
                refused(
                    reason,
                    format!("{} in flight reached", at("limit")),
                    limit.saturating_sub(*held),
                )
            }
        },
    }
}

fn refused(reason: Reason, message: String, remaining: u64) -> Verdict {
    Verdict::Refused {
        reason,
        retry_after: None,
        message,
        remaining,
        reset_after: None,
    }
}

/// Whether `used` is at or past `permille` of `limit`.
fn past(used: u64, limit: u64, permille: u64) -> bool {
    limit > 0 && u128::from(used) * 1000 >= u128::from(limit) * u128::from(permille)
}

/// Takes `amount`; returns the count before and after.
fn take(counter: &mut Counter, window: Nanos, amount: u64, mono: Nanos) -> (u64, u64) {
    match counter {
        Counter::Rate(gcra) => {
            let before = gcra.used(window, mono);
            gcra.take(window, mono, amount);
            (before, gcra.used(window, mono))
        }
        Counter::Quota(count) => {
            let before = count.used();
            count.open = count.open.saturating_add(amount);
            (before, count.used())
        }
        Counter::Held(held) => {
            let before = *held;
            *held = held.saturating_add(amount);
            (before, *held)
        }
    }
}

/// A refusal with nothing else known.
pub fn refusal(
    reason: Reason,
    dimension: Option<Arc<str>>,
    message: Cow<'static, str>,
    snapshot: SnapshotVersion,
    now: OffsetDateTime,
) -> Decision {
    Decision {
        decision: Outcome::Deny,
        reason,
        message,
        dimension,
        entitlement: None,
        retry_after_ms: None,
        limits: Vec::new(),
        snapshot,
        decided_at: now,
    }
}

/// The refusal to report: the first in request order, with the longest wait any refused
/// rate asks for (none if one of them can never fit, or another kind refused too).
fn first_refusal(
    asked: &Asked,
    verdicts: &[(usize, Verdict)],
) -> Option<(Reason, Option<u64>, Arc<str>, String)> {
    let refusals = || {
        verdicts.iter().filter_map(|(i, v)| match v {
            Verdict::Refused {
                reason,
                retry_after,
                message,
                ..
            } => Some((*i, *reason, *retry_after, message)),
            Verdict::Fits { .. } => None,
        })
    };
    let (i, reason, _, message) = refusals().min_by_key(|(i, ..)| *i)?;
    let only_rates = refusals().all(|(_, r, ..)| r == Reason::RateLimited);
    let waits: Option<Nanos> = refusals()
        .map(|(_, _, wait, _)| wait)
        .try_fold(0, |m, w| w.map(|w| w.max(m)));
    let retry_after = waits
        .filter(|_| only_rates)
        .map(|ns| ns.div_ceil(1_000_000));
    let dimension = Arc::clone(&asked[i].1.dimension.name);
    Some((reason, retry_after, dimension, message.clone()))
}

/// Each requested dimension's state under its tightest ceiling.
fn limit_states(
    asked: &Asked,
    verdicts: &[(usize, Verdict)],
    now: OffsetDateTime,
) -> Vec<LimitState> {
    asked
        .iter()
        .enumerate()
        .map(|(i, (_, compiled))| {
            let mine = verdicts.iter().filter(|(j, _)| *j == i).map(|(_, v)| v);
            let (remaining, reset) = mine.fold((None::<u64>, None::<Nanos>), |(rem, reset), v| {
                let (r, t) = match v {
                    Verdict::Fits {
                        remaining,
                        reset_after,
                    } => (*remaining, *reset_after),
                    Verdict::Refused {
                        remaining,
                        reset_after,
                        ..
                    } => (*remaining, *reset_after),
                };
                (Some(rem.map_or(r, |a| a.min(r))), reset.max(t))
            });
            let dimension = &compiled.dimension;
            let reset_after_ms = match dimension.period {
                Some(period) => Some(period.ms_until_end(now)),
                None => reset.map(|ns| ns.div_ceil(1_000_000)),
            };
            LimitState {
                dimension: Arc::clone(&dimension.name),
                ceiling: compiled.ceiling,
                scope: compiled.from.as_ref().map(|(l, _)| *l),
                scope_id: compiled.from.as_ref().map(|(_, id)| Arc::clone(id)),
                remaining,
                reset_after_ms,
            }
        })
        .collect()
}
