//! Decisions from memory: the effective ceilings of each requested dimension (compiled once
//! per subject and policy version), one counter per ceiling and scope, and an atomic
//! check-then-take over all of them ([`admit`](super::admit)). Nothing here reads the
//! database, and a decision copies no names: they are shared `Arc<str>`s.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use dashmap::DashMap;
use smallvec::SmallVec;
use time::OffsetDateTime;
use uuid::Uuid;

use super::admit::refusal;
use super::book::Book;
use super::compose::{Constraint, Subject, compose};
use super::decision::{Decision, DecisionInput, Reason, SnapshotVersion};
use super::dimensions::{Dimension, Dimensions, Period};
use super::feed::{Feed, QuotaScope};
use super::value::{Level, MAX_AMOUNT, Resource, Value};
use super::windows::{Gcra, Nanos, QuotaCount};
use crate::platform::registry::packet::DimensionKind;

pub use super::admission::Admission;

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
    /// The counter, locked (a panic elsewhere leaves it usable: counts are plain numbers).
    pub fn lock(&self) -> MutexGuard<'_, Counter> {
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
    /// The period, `YYYY-MM` or `YYYY-MM-DD`.
    pub period: String,
    /// Per mille of the ceiling: the warning fraction, or 1000.
    pub threshold_permille: u64,
    /// The ceiling.
    pub limit: u64,
    /// Counted after the change.
    pub used: u64,
}

/// Where signals go; a closed channel drops them (each is redone by the periodic work it
/// stands for).
pub type Signals = tokio::sync::mpsc::UnboundedSender<Signal>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    dimension: Arc<str>,
    level: Level,
    counted_at: String,
    resource: Option<Resource>,
}

/// A compiled set's key: the ids as they are, names hashed (the set holds them whole and
/// is checked on every hit, so a hash collision only costs a compile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SetKey {
    organization: Uuid,
    project: Option<Uuid>,
    principal: Option<Uuid>,
    names: u64,
}

impl SetKey {
    fn of<'a>(
        subject: &Subject,
        resource: Option<&Resource>,
        dimensions: impl Iterator<Item = &'a str>,
    ) -> SetKey {
        let mut hasher = foldhash::quality::FixedState::default().build_hasher();
        (&subject.api_key, subject.department, resource).hash(&mut hasher);
        for d in dimensions {
            d.hash(&mut hasher);
        }
        SetKey {
            organization: subject.organization,
            project: subject.project,
            principal: subject.principal,
            names: hasher.finish(),
        }
    }
}

/// A ceiling to check, with its counter.
pub struct Check {
    /// The counter.
    pub bucket: Arc<Bucket>,
    /// A limit, or not entitled.
    pub value: Value,
    /// Where it was set.
    pub level: Level,
    /// The scope that counts it.
    pub counted_at: String,
    /// `type/id` of its resource.
    pub resource: Option<String>,
}

/// One dimension's ceilings for one subject.
pub struct Compiled {
    /// The tightest ceiling.
    pub ceiling: Value,
    /// Where it was set.
    pub from: Option<(Level, Arc<str>)>,
    /// Every ceiling that binds.
    pub checks: Vec<Check>,
    /// The dimension.
    pub dimension: Arc<Dimension>,
}

/// The ceilings of the dimensions one kind of request asks for (a product asks for the
/// same few on every request), valid for one policy version and registry generation until
/// an instant: one lookup per decision.
pub struct CompiledSet {
    subject: Subject,
    resource: Option<Resource>,
    version: i64,
    generation: u64,
    valid_until: Option<OffsetDateTime>,
    /// Per requested dimension, in request order.
    pub dims: SmallVec<[Compiled; 4]>,
}

impl CompiledSet {
    fn serves(
        &self,
        book: &Book,
        generation: u64,
        subject: &Subject,
        input: &DecisionInput,
        now: OffsetDateTime,
    ) -> bool {
        self.version == book.version
            && self.generation == generation
            && self.valid_until.is_none_or(|until| now < until)
            && self.subject == *subject
            && self.resource == input.resource
            && self.dims.len() == input.deltas.len()
            && self
                .dims
                .iter()
                .zip(&input.deltas)
                .all(|(c, d)| c.dimension.id == d.dimension)
    }
}

/// Shards of the engine's maps: enough that threads deciding for different projects rarely
/// take the same shard's lock.
const SHARDS: usize = 256;

/// The hasher of the engine's maps.
pub type Fast = foldhash::fast::RandomState;

/// The most compiled sets kept; past it the cache starts over.
const MAX_COMPILED: usize = 200_000;

/// The decision engine.
pub struct Engine {
    buckets: DashMap<BucketKey, Arc<Bucket>, Fast>,
    compiled: DashMap<SetKey, Arc<CompiledSet>, Fast>,
    /// Billing's quota feed, as read.
    pub feed: Feed,
    /// Per mille of a ceiling past which an admission warns.
    pub warn_permille: u64,
    /// Where background work is asked for.
    pub signals: Option<Signals>,
    started: Instant,
}

impl Engine {
    /// An engine warning past `warn_permille` of a ceiling, sending work to `signals`.
    pub fn new(warn_permille: u64, signals: Option<Signals>) -> Engine {
        Engine {
            buckets: DashMap::with_hasher_and_shard_amount(Fast::default(), SHARDS),
            compiled: DashMap::with_hasher_and_shard_amount(Fast::default(), SHARDS),
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
            plan: plan.map(|p| Arc::clone(&p.label)),
        };
        let deny = |reason, dimension: Option<&str>, message: String| {
            let dimension = dimension.map(Arc::from);
            (
                refusal(reason, dimension, message.into(), snapshot.clone(), now),
                None,
            )
        };
        match plan {
            None => {
                let why = "the organization's plan does not exist; nothing is entitled";
                return deny(Reason::EntitlementMissing, None, why.into());
            }
            Some(plan) if !plan.entitles(&input.product) => {
                let why = format!(
                    "the plan `{}` does not include {}",
                    plan.name, input.product
                );
                return deny(Reason::EntitlementMissing, None, why);
            }
            Some(_) => {}
        }
        let generation = dimensions.generation();
        let key = SetKey::of(
            subject,
            input.resource.as_ref(),
            input.deltas.iter().map(|d| d.dimension.as_str()),
        );
        let cached = self.compiled.get(&key).map(|c| Arc::clone(&c));
        let set = match cached.filter(|c| c.serves(book, generation, subject, input, now)) {
            Some(set) => set,
            None => match self.compile_set(book, dimensions, generation, subject, input, now) {
                Ok(set) => {
                    if self.compiled.len() >= MAX_COMPILED {
                        self.compiled.clear();
                    }
                    self.compiled.insert(key, Arc::clone(&set));
                    set
                }
                Err((dimension, why)) => return deny(Reason::HardDeny, Some(&dimension), why),
            },
        };
        if let Some(too_much) = input.deltas.iter().find(|d| d.amount > MAX_AMOUNT) {
            let why = format!(
                "`{}`: at most {MAX_AMOUNT} may be asked for",
                too_much.dimension
            );
            return deny(Reason::HardDeny, Some(&too_much.dimension), why);
        }
        self.admit(
            &set,
            &input.deltas,
            subject.organization,
            snapshot,
            now,
            mono,
        )
    }

    /// Compiles every dimension `input` asks for; the first that is not an active dimension
    /// of its product refuses the whole request.
    fn compile_set(
        &self,
        book: &Book,
        dimensions: &dyn Dimensions,
        generation: u64,
        subject: &Subject,
        input: &DecisionInput,
        now: OffsetDateTime,
    ) -> Result<Arc<CompiledSet>, (String, String)> {
        let mut dims = SmallVec::new();
        let mut valid_until: Option<OffsetDateTime> = None;
        for delta in &input.deltas {
            let Some(dimension) = dimensions.dimension(&delta.dimension) else {
                return Err((
                    delta.dimension.clone(),
                    format!("`{}` is not an active dimension", delta.dimension),
                ));
            };
            if dimension.product != input.product {
                let why = format!(
                    "`{}`: it is not a dimension of {}",
                    delta.dimension, input.product
                );
                return Err((delta.dimension.clone(), why));
            }
            let (compiled, until) =
                self.compile(book, subject, input.resource.as_ref(), &dimension, now);
            valid_until = match (valid_until, until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            dims.push(compiled);
        }
        Ok(Arc::new(CompiledSet {
            subject: subject.clone(),
            resource: input.resource.clone(),
            version: book.version,
            generation,
            valid_until,
            dims,
        }))
    }

    /// One dimension's ceilings for `subject`, and until when they hold.
    fn compile(
        &self,
        book: &Book,
        subject: &Subject,
        resource: Option<&Resource>,
        dimension: &Arc<Dimension>,
        now: OffsetDateTime,
    ) -> (Compiled, Option<OffsetDateTime>) {
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
        let compiled = Compiled {
            ceiling: composed.ceiling,
            from: composed.from.map(|(level, id)| (level, Arc::from(id))),
            checks,
            dimension: Arc::clone(dimension),
        };
        (compiled, valid_until)
    }

    fn bucket(
        &self,
        organization: Uuid,
        dimension: &Dimension,
        constraint: &Constraint,
        now: OffsetDateTime,
    ) -> Arc<Bucket> {
        let key = BucketKey {
            dimension: Arc::clone(&dimension.name),
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
        if let (Some(scope), Some(Period::Month)) = (&bucket.quota, dimension.period) {
            self.feed.register(scope, &bucket, Period::Month.key(now));
            self.signal(Signal::ReadFeed(organization));
        }
        bucket
    }

    /// Asks for background work.
    pub fn signal(&self, signal: Signal) {
        if let Some(signals) = &self.signals {
            let _ = signals.send(signal);
        }
    }

    /// A refusal made before any counter is looked at (an unknown project).
    pub fn refuse(reason: Reason, message: String, version: i64, now: OffsetDateTime) -> Decision {
        let snapshot = SnapshotVersion {
            version,
            plan: None,
        };
        refusal(reason, None, message.into(), snapshot, now)
    }
}

/// A dimension's standing under its tightest ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// The effective ceiling.
    pub ceiling: Value,
    /// Where it was set.
    pub from: Option<(Level, Arc<str>)>,
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
        dimension: &Arc<Dimension>,
        now: OffsetDateTime,
        mono: Nanos,
    ) -> Standing {
        let (compiled, _) = self.compile(book, subject, resource, dimension, now);
        let period = dimension.period.map(|p| p.key(now)).unwrap_or_default();
        let mut tightest: Option<(u64, u64)> = None;
        for check in &compiled.checks {
            let limit = check.value.amount().unwrap_or_default();
            let used = match &mut *check.bucket.lock() {
                Counter::Rate(gcra) => {
                    gcra.check(limit, dimension.window, mono, 0);
                    gcra.used(dimension.window, mono)
                }
                Counter::Quota(count) => {
                    count.roll(period);
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
            from: compiled.from,
            used: tightest.map_or(0, |(u, _)| u),
            remaining: tightest.map(|(_, l)| l),
        }
    }
}
