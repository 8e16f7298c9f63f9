//! Decisions from memory: the effective ceilings of each requested dimension (compiled once
//! per subject and policy version), one counter per ceiling and scope, and an atomic
//! check-then-take over all of them. Nothing here reads the database.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use dashmap::DashMap;
use time::OffsetDateTime;
use uuid::Uuid;

use super::book::Book;
use super::compose::{Subject, compose};
use super::decision::{
    Decision, DecisionInput, Delta, LimitState, Outcome, Reason, SnapshotVersion,
};
use super::dimensions::{Dimension, Dimensions, Period};

use super::feed::{Feed, FeedState, QuotaScope};
use super::value::{Level, MAX_AMOUNT, Resource, Value};
use super::windows::{Gcra, Nanos, QuotaCount};
use crate::platform::registry::packet::DimensionKind;

/// A counter's state.
#[derive(Debug)]
pub enum Counter {
    /// A rate window.
    Rate(Gcra),
    /// A quota period.
    Quota(QuotaCount),
    /// Units held now (concurrency, capacity).
    Held(u64),
}

/// One counter: a ceiling's usage at one scope.
#[derive(Debug)]
pub struct Bucket {
    /// Its state.
    pub counter: Mutex<Counter>,
    /// For quotas: what the feed counts into it.
    pub quota: Option<QuotaScope>,
}

impl Bucket {
    fn lock(&self) -> MutexGuard<'_, Counter> {
        match self.counter.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Something the engine wants done off the hot path.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// Read this organization's quota feed.
    ReadFeed(Uuid),
    /// A quota crossed a threshold.
    Crossed(Crossing),
}

/// A quota crossed a fraction of its ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    /// The organization.
    pub organization: Uuid,
    /// The dimension.
    pub dimension: String,
    /// Level of the ceiling.
    pub level: Level,
    /// Scope that counts it.
    pub scope_id: String,
    /// Resource it is specific to.
    pub resource: Option<String>,
    /// The period.
    pub period: String,
    /// Per mille of the ceiling: the warning fraction, or 1000.
    pub threshold_permille: u64,
    /// The ceiling.
    pub limit: u64,
    /// Counted after the change.
    pub used: u64,
}

/// Where signals go; a full or closed channel drops them (each is retried by the periodic
/// work it stands for).
pub type Signals = tokio::sync::mpsc::UnboundedSender<Signal>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    dimension: String,
    level: Level,
    counted_at: String,
    resource: Option<Resource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CompiledKey {
    subject: Subject,
    resource: Option<Resource>,
    dimension: String,
}

/// A ceiling to check, with its counter.
struct Check {
    bucket: Arc<Bucket>,
    value: Value,
    level: Level,
    counted_at: String,
    resource: Option<String>,
}

/// One dimension's ceilings for one subject, valid for one policy version until an
/// instant.
struct Compiled {
    version: i64,
    valid_until: Option<OffsetDateTime>,
    ceiling: Value,
    from: Option<(Level, String)>,
    checks: Vec<Check>,
}

/// The most compiled entries kept; past it the cache starts over.
const MAX_COMPILED: usize = 200_000;

/// The decision engine.
pub struct Engine {
    buckets: DashMap<BucketKey, Arc<Bucket>>,
    compiled: DashMap<CompiledKey, Arc<Compiled>>,
    /// Billing's quota feed, as read.
    pub feed: Feed,
    warn_permille: u64,
    signals: Option<Signals>,
    started: Instant,
}

/// What a decision holds until it is corrected or dropped.
pub struct Admission {
    held: Vec<Held>,
    signals: Option<Signals>,
    warn_permille: u64,
    settled: bool,
}

struct Held {
    dimension: String,
    window: Nanos,
    bucket: Arc<Bucket>,
    amount: u64,
    limit: u64,
    check_level: Level,
    scope_id: String,
    resource: Option<String>,
    organization: Uuid,
    period: String,
}

impl Engine {
    /// An engine warning past `warn_permille` of a ceiling, sending work to `signals`.
    pub fn new(warn_permille: u64, signals: Option<Signals>) -> Engine {
        Engine {
            buckets: DashMap::new(),
            compiled: DashMap::new(),
            feed: Feed::default(),
            warn_permille: warn_permille.clamp(1, 1000),
            signals,
            started: Instant::now(),
        }
    }

    /// Monotonic nanoseconds since the engine started.
    pub fn mono(&self) -> Nanos {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Decides `input` for `subject` (whose department IAM supplied) at `now`.
    pub fn decide(
        &self,
        book: &Book,
        dimensions: &dyn Dimensions,
        subject: &Subject,
        input: &DecisionInput,
        now: OffsetDateTime,
        mono: Nanos,
    ) -> (Decision, Option<Admission>) {
        let plan = book.plan_of(subject.organization, now);
        let snapshot = SnapshotVersion {
            version: book.version,
            plan: plan.map(|p| format!("{}@{}", p.name, p.version)),
        };
        let deny = |reason, dimension: Option<&str>, message: String| {
            (
                refusal(reason, dimension, message, snapshot.clone(), now),
                None,
            )
        };
        match plan {
            None => {
                return deny(
                    Reason::EntitlementMissing,
                    None,
                    "the organization's plan does not exist; nothing is entitled".into(),
                );
            }
            Some(plan) if !plan.entitles(&input.product) => {
                return deny(
                    Reason::EntitlementMissing,
                    None,
                    format!(
                        "the plan `{}` does not include {}",
                        plan.name, input.product
                    ),
                );
            }
            Some(_) => {}
        }
        let mut asked = Vec::with_capacity(input.deltas.len());
        for delta in &input.deltas {
            let Some(dimension) = dimensions.dimension(&delta.dimension) else {
                return deny(
                    Reason::HardDeny,
                    Some(&delta.dimension),
                    format!("`{}` is not an active dimension", delta.dimension),
                );
            };
            if dimension.product != input.product || delta.amount > MAX_AMOUNT {
                let why = match delta.amount > MAX_AMOUNT {
                    true => format!("at most {MAX_AMOUNT} may be asked for"),
                    false => format!("it is not a dimension of {}", input.product),
                };
                return deny(
                    Reason::HardDeny,
                    Some(&delta.dimension),
                    format!("`{}`: {why}", delta.dimension),
                );
            }
            let compiled = self.compiled(book, subject, input.resource.as_ref(), &dimension, now);
            asked.push((delta, dimension, compiled));
        }
        self.admit(&asked, subject.organization, snapshot, now, mono)
    }

    fn compiled(
        &self,
        book: &Book,
        subject: &Subject,
        resource: Option<&Resource>,
        dimension: &Dimension,
        now: OffsetDateTime,
    ) -> Arc<Compiled> {
        let key = CompiledKey {
            subject: subject.clone(),
            resource: resource.cloned(),
            dimension: dimension.id.clone(),
        };
        if let Some(found) = self.compiled.get(&key)
            && found.version == book.version
            && found.valid_until.is_none_or(|until| now < until)
        {
            return Arc::clone(&found);
        }
        let compiled = Arc::new(self.compile(book, subject, resource, dimension, now));
        if self.compiled.len() >= MAX_COMPILED {
            self.compiled.clear();
        }
        self.compiled.insert(key, Arc::clone(&compiled));
        compiled
    }

    fn compile(
        &self,
        book: &Book,
        subject: &Subject,
        resource: Option<&Resource>,
        dimension: &Dimension,
        now: OffsetDateTime,
    ) -> Compiled {
        let composed = compose(book, subject, &dimension.id, resource, now);
        let next_assignment = book
            .assignments
            .get(&subject.organization)
            .and_then(|list| list.iter().map(|a| a.effective_from).find(|at| *at > now));
        let valid_until = match (composed.next_expiry.filter(|at| *at > now), next_assignment) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let checks = composed
            .constraints
            .iter()
            .map(|c| Check {
                bucket: self.bucket(subject.organization, dimension, c, now),
                value: c.value,
                level: c.level,
                counted_at: c.counted_at.clone(),
                resource: c
                    .resource
                    .as_ref()
                    .map(|r| format!("{}/{}", r.resource_type, r.id)),
            })
            .collect();
        Compiled {
            version: book.version,
            valid_until,
            ceiling: composed.ceiling,
            from: composed.from,
            checks,
        }
    }

    fn bucket(
        &self,
        organization: Uuid,
        dimension: &Dimension,
        constraint: &super::compose::Constraint,
        now: OffsetDateTime,
    ) -> Arc<Bucket> {
        let key = BucketKey {
            dimension: dimension.id.clone(),
            level: constraint.level,
            counted_at: constraint.counted_at.clone(),
            resource: constraint.resource.clone(),
        };
        if let Some(found) = self.buckets.get(&key) {
            return Arc::clone(&found);
        }
        let (counter, quota) = match dimension.kind {
            DimensionKind::Rate => (Counter::Rate(Gcra::default()), None),
            DimensionKind::Quota => {
                let scope = QuotaScope {
                    organization,
                    level: constraint.level,
                    counted_at: constraint.counted_at.clone(),
                    units: Arc::clone(&dimension.usage_units),
                };
                (Counter::Quota(QuotaCount::default()), Some(scope))
            }
            DimensionKind::Concurrency | DimensionKind::Capacity => (Counter::Held(0), None),
        };
        let made = Arc::new(Bucket {
            counter: Mutex::new(counter),
            quota,
        });
        let bucket = Arc::clone(self.buckets.entry(key).or_insert(made).value());
        if let (Some(scope), Some(period)) = (&bucket.quota, dimension.period) {
            self.feed.register(scope, &bucket, &period.of(now));
            self.signal(Signal::ReadFeed(organization));
        }
        bucket
    }

    fn signal(&self, signal: Signal) {
        if let Some(signals) = &self.signals {
            let _ = signals.send(signal);
        }
    }

    /// Checks every ceiling of every requested dimension under their locks, taken in one
    /// order; takes from all of them only if all fit.
    fn admit(
        &self,
        asked: &[(&Delta, Arc<Dimension>, Arc<Compiled>)],
        organization: Uuid,
        snapshot: SnapshotVersion,
        now: OffsetDateTime,
        mono: Nanos,
    ) -> (Decision, Option<Admission>) {
        let mut order: Vec<(usize, &Check)> = asked
            .iter()
            .enumerate()
            .flat_map(|(i, (_, _, c))| c.checks.iter().map(move |check| (i, check)))
            .collect();
        order.sort_by_key(|(_, check)| Arc::as_ptr(&check.bucket) as usize);
        let feed = self.feed.state(organization);
        let mut locked: Vec<(usize, &Check, MutexGuard<'_, Counter>)> = order
            .into_iter()
            .map(|(i, check)| (i, check, check.bucket.lock()))
            .collect();
        let mut verdicts = Vec::with_capacity(locked.len());
        for (i, check, counter) in locked.iter_mut() {
            let (delta, dimension, _) = &asked[*i];
            let period = dimension.period.map(|p| p.of(now));
            let verdict = evaluate(
                check,
                counter,
                dimension,
                delta.amount,
                period.as_deref(),
                feed.as_ref(),
                mono,
            );
            verdicts.push((*i, verdict));
        }
        let limits = limit_states(asked, &verdicts, now);
        if let Some(refused) = first_refusal(asked, &verdicts) {
            return (
                Decision {
                    retry_after_ms: refused.1,
                    limits,
                    ..refusal(refused.0, Some(&refused.2), refused.3, snapshot, now)
                },
                None,
            );
        }
        let mut held = Vec::with_capacity(locked.len());
        let mut warn: Option<String> = None;
        for (i, check, counter) in locked.iter_mut() {
            let (delta, dimension, _) = &asked[*i];
            let period = dimension.period.map(|p| p.of(now)).unwrap_or_default();
            let limit = check.value.amount().unwrap_or_default();
            let (before, after) = take(counter, dimension.window, delta.amount, mono);
            if warn.is_none() && past(after, limit, self.warn_permille) {
                warn = Some(dimension.id.clone());
            }
            let crossing = (dimension.kind == DimensionKind::Quota)
                .then(|| {
                    self.crossing(
                        organization,
                        dimension,
                        check,
                        &period,
                        limit,
                        before,
                        after,
                    )
                })
                .flatten();
            if let Some(crossing) = &crossing {
                self.signal(Signal::Crossed(crossing.clone()));
            }
            held.push(Held {
                dimension: dimension.id.clone(),
                window: dimension.window,
                bucket: Arc::clone(&check.bucket),
                amount: delta.amount,
                limit,
                check_level: check.level,
                scope_id: check.counted_at.clone(),
                resource: check.resource.clone(),
                organization,
                period: period.clone(),
            });
        }
        drop(locked);
        let (outcome, reason, message) = match &warn {
            Some(d) => (
                Outcome::Warn,
                Reason::NearLimit,
                format!(
                    "admitted; `{d}` is past {} % of its ceiling",
                    self.warn_permille / 10
                ),
            ),
            None => (Outcome::Allow, Reason::Allowed, "admitted".to_owned()),
        };
        let decision = Decision {
            decision: outcome,
            reason,
            message,
            dimension: warn,
            retry_after_ms: None,
            limits,
            snapshot,
            decided_at: now,
        };
        let admission = Admission {
            held,
            signals: self.signals.clone(),
            warn_permille: self.warn_permille,
            settled: false,
        };
        (decision, Some(admission))
    }

    #[expect(clippy::too_many_arguments, reason = "one crossing's whole context")]
    fn crossing(
        &self,
        organization: Uuid,
        dimension: &Dimension,
        check: &Check,
        period: &str,
        limit: u64,
        before: u64,
        after: u64,
    ) -> Option<Crossing> {
        crossed(before, after, limit, self.warn_permille).map(|threshold_permille| Crossing {
            organization,
            dimension: dimension.id.clone(),
            level: check.level,
            scope_id: check.counted_at.clone(),
            resource: check.resource.clone(),
            period: period.to_owned(),
            threshold_permille,
            limit,
            used: after,
        })
    }
}

/// The highest threshold (warning fraction, then 100 %) `before → after` crossed.
fn crossed(before: u64, after: u64, limit: u64, warn_permille: u64) -> Option<u64> {
    [1000, warn_permille].into_iter().find(|t| {
        let mark = u128::from(limit) * u128::from(*t);
        u128::from(before) * 1000 < mark && u128::from(after) * 1000 >= mark
    })
}

/// One check's verdict: fits (with units left and when the window is full again), or the
/// reason it does not.
#[derive(Debug, Clone)]
enum Verdict {
    Fits {
        remaining: Option<u64>,
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

fn evaluate(
    check: &Check,
    counter: &mut Counter,
    dimension: &Dimension,
    amount: u64,
    period: Option<&str>,
    feed: Option<&FeedState>,
    mono: Nanos,
) -> Verdict {
    let limit = match check.value {
        Value::Limit(limit) => limit,
        _ => {
            return refused(
                Reason::EntitlementMissing,
                format!(
                    "`{}` is not entitled at the {} level",
                    dimension.id,
                    check.level.as_str()
                ),
                0,
            );
        }
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
                    remaining: Some(state.remaining),
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
            let Some(period) = period.filter(|_| countable) else {
                let why = "names no usage billing's monthly quota feed counts";
                return refused(Reason::HardDeny, format!("`{}` {why}", dimension.id), 0);
            };
            if matches!(feed, Some(FeedState::Failed)) {
                return refused(
                    Reason::StaleSnapshot,
                    format!(
                        "usage for `{}` could not be read; try again shortly",
                        dimension.id
                    ),
                    0,
                );
            }
            count.roll(period);
            let used = count.used();
            match used.saturating_add(amount) <= limit {
                true => Verdict::Fits {
                    remaining: Some(limit - used - amount),
                    reset_after: None,
                },
                false => refused(
                    Reason::QuotaExhausted,
                    format!("{} for {period} is used up", at("quota")),
                    limit.saturating_sub(used),
                ),
            }
        }
        Counter::Held(held) => match held.saturating_add(amount) <= limit {
            true => Verdict::Fits {
                remaining: Some(limit - *held - amount),
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
fn refusal(
    reason: Reason,
    dimension: Option<&str>,
    message: String,
    snapshot: SnapshotVersion,
    now: OffsetDateTime,
) -> Decision {
    Decision {
        decision: Outcome::Deny,
        reason,
        message,
        dimension: dimension.map(str::to_owned),
        retry_after_ms: None,
        limits: Vec::new(),
        snapshot,
        decided_at: now,
    }
}

/// The refusal to report: the first in request order, with the longest wait any refused
/// rate asks for (none if one of them can never fit).
fn first_refusal(
    asked: &[(&Delta, Arc<Dimension>, Arc<Compiled>)],
    verdicts: &[(usize, Verdict)],
) -> Option<(Reason, Option<u64>, String, String)> {
    let refusals: Vec<(usize, Reason, Option<Nanos>, &String)> = verdicts
        .iter()
        .filter_map(|(i, v)| match v {
            Verdict::Refused {
                reason,
                retry_after,
                message,
                ..
            } => Some((*i, *reason, *retry_after, message)),
            Verdict::Fits { .. } => None,
        })
        .collect();
    let (i, reason, _, message) = refusals.iter().min_by_key(|(i, ..)| *i)?;
    let waits: Option<Vec<Nanos>> = refusals.iter().map(|(_, _, wait, _)| *wait).collect();
    let retry_after = waits
        .filter(|_| refusals.iter().all(|(_, r, ..)| *r == Reason::RateLimited))
        .and_then(|w| w.into_iter().max())
        .map(|ns| ns.div_ceil(1_000_000));
    let dimension = asked
        .get(*i)
        .map(|(d, ..)| d.dimension.clone())
        .unwrap_or_default();
    Some((*reason, retry_after, dimension, (*message).clone()))
}

/// Each requested dimension's state under its tightest ceiling.
fn limit_states(
    asked: &[(&Delta, Arc<Dimension>, Arc<Compiled>)],
    verdicts: &[(usize, Verdict)],
    now: OffsetDateTime,
) -> Vec<LimitState> {
    asked
        .iter()
        .enumerate()
        .map(|(i, (delta, dimension, compiled))| {
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
                    } => (Some(*remaining), *reset_after),
                };
                let rem = match (rem, r) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (rem, reset.max(t))
            });
            let reset_after_ms = match dimension.period {
                Some(period) => Some(period.ms_until_end(now)),
                None => reset.map(|ns| ns.div_ceil(1_000_000)),
            };
            LimitState {
                dimension: delta.dimension.clone(),
                ceiling: compiled.ceiling,
                scope: compiled.from.as_ref().map(|(l, _)| *l),
                scope_id: compiled.from.as_ref().map(|(_, id)| id.clone()),
                remaining,
                reset_after_ms,
            }
        })
        .collect()
}

impl Admission {
    /// Corrects the reservation to what was actually used: unused units go back to rate
    /// windows, quotas count the actual instead of the estimate. Dimensions not named keep
    /// their estimate. Once only; later calls change nothing.
    pub fn correct(&mut self, actual: &[Delta]) {
        if self.settled {
            return;
        }
        self.settled = true;
        for held in &self.held {
            let used = actual
                .iter()
                .find(|d| d.dimension == held.dimension)
                .map_or(held.amount, |d| d.amount.min(MAX_AMOUNT));
            self.settle_one(held, used);
        }
    }

    fn settle_one(&self, held: &Held, used: u64) {
        let mut counter = held.bucket.lock();
        match &mut *counter {
            Counter::Rate(gcra) if used < held.amount => {
                gcra.give_back(held.window, held.amount - used)
            }
            Counter::Rate(gcra) => gcra.push_back(held.window, used - held.amount),
            Counter::Quota(count) => {
                let before = count.used();
                count.settle(held.amount, used);
                let after = count.used();
                drop(counter);
                self.signal_crossing(held, before, after);
            }
            Counter::Held(_) => {}
        }
    }

    fn signal_crossing(&self, held: &Held, before: u64, after: u64) {
        let Some(threshold_permille) = crossed(before, after, held.limit, self.warn_permille)
        else {
            return;
        };
        if let Some(signals) = &self.signals {
            let _ = signals.send(Signal::Crossed(Crossing {
                organization: held.organization,
                dimension: held.dimension.clone(),
                level: held.check_level,
                scope_id: held.scope_id.clone(),
                resource: held.resource.clone(),
                period: held.period.clone(),
                threshold_permille,
                limit: held.limit,
                used: after,
            }));
        }
    }
}

impl Drop for Admission {
    /// Frees what is held at once (concurrency, capacity); an uncorrected quota keeps its
    /// estimate.
    fn drop(&mut self) {
        for held in &self.held {
            let mut counter = held.bucket.lock();
            match &mut *counter {
                Counter::Held(n) => *n = n.saturating_sub(held.amount),
                Counter::Quota(count) if !self.settled => count.settle(held.amount, held.amount),
                _ => {}
            }
        }
    }
}

/// A dimension's standing under its tightest ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// The effective ceiling.
    pub ceiling: Value,
    /// Where it was set.
    pub from: Option<(Level, String)>,
    /// Counted under the tightest ceiling.
    pub used: u64,
    /// Left under it (none when unlimited).
    pub remaining: Option<u64>,
}

impl Engine {
    /// How much of `dimension` `subject` uses now, under its tightest ceiling.
    pub fn standing(
        &self,
        book: &Book,
        subject: &Subject,
        resource: Option<&Resource>,
        dimension: &Dimension,
        now: OffsetDateTime,
        mono: Nanos,
    ) -> Standing {
        let compiled = self.compiled(book, subject, resource, dimension, now);
        let period = dimension.period.map(|p| p.of(now));
        let mut tightest: Option<(u64, u64)> = None;
        for check in &compiled.checks {
            let limit = check.value.amount().unwrap_or_default();
            let used = match &mut *check.bucket.lock() {
                Counter::Rate(gcra) => {
                    gcra.check(limit, dimension.window, mono, 0);
                    gcra.used(dimension.window, mono)
                }
                Counter::Quota(count) => {
                    count.roll(period.as_deref().unwrap_or_default());
                    count.used()
                }
                Counter::Held(n) => *n,
            };
            let left = limit.saturating_sub(used);
            if tightest.is_none_or(|(_, l)| left < l) {
                tightest = Some((used, left));
            }
        }
        Standing {
            ceiling: compiled.ceiling,
            from: compiled.from.clone(),
            used: tightest.map_or(0, |(u, _)| u),
            remaining: tightest.map(|(_, l)| l),
        }
    }

    /// A refusal made before any counter is looked at (an unknown project).
    pub fn refuse(reason: Reason, message: String, version: i64, now: OffsetDateTime) -> Decision {
        let snapshot = SnapshotVersion {
            version,
            plan: None,
        };
        refusal(reason, None, message, snapshot, now)
    }
}
