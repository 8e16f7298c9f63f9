//! Billing's quota feed as policy holds it: per organization, the period's recorded usage
//! per project, actor and unit, and the quota counters it is the base of. Reads happen in
//! the background (on billing's `usage_recorded` events, periodically, and when a counter
//! is first made); decisions only look at what was read.

use std::sync::{Arc, Weak};

use dashmap::DashMap;
use uuid::Uuid;

use super::engine::{Bucket, Counter};
use super::value::Level;

/// One row of recorded usage, with the department of its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    /// Project.
    pub project: Uuid,
    /// Its department.
    pub department: Option<Uuid>,
    /// `api_key`, `service_account` or `user`.
    pub actor_kind: String,
    /// Key prefix or principal id.
    pub actor_id: String,
    /// Usage unit.
    pub unit: String,
    /// Quantity, rounded up to a whole unit.
    pub quantity: u64,
}

/// What a quota counter counts: its scope and the usage units of its dimension.
#[derive(Debug, Clone)]
pub struct QuotaScope {
    /// The organization.
    pub organization: Uuid,
    /// Level the ceiling was set at.
    pub level: Level,
    /// The scope that counts it (see [`super::compose::Constraint::counted_at`]).
    pub counted_at: String,
    /// Units that count.
    pub units: Arc<Vec<String>>,
}

impl QuotaScope {
    /// Whether `row` counts here.
    pub fn counts(&self, row: &FeedRow) -> bool {
        if !self.units.contains(&row.unit) {
            return false;
        }
        let id = &self.counted_at;
        match self.level {
            Level::Organization => true,
            Level::Department => row.department.is_some_and(|d| d.to_string() == *id),
            Level::Global | Level::Plan | Level::Project => row.project.to_string() == *id,
            Level::Principal => {
                let person = matches!(row.actor_kind.as_str(), "user" | "service_account");
                person && format!("{}:{}", row.project, row.actor_id) == *id
            }
            Level::ApiKey => row.actor_kind == "api_key" && row.actor_id == *id,
        }
    }

    /// The base for this scope out of `rows`.
    pub fn base(&self, rows: &[FeedRow]) -> u64 {
        rows.iter()
            .filter(|r| self.counts(r))
            .fold(0u64, |sum, r| sum.saturating_add(r.quantity))
    }
}

/// How fresh an organization's feed is.
#[derive(Debug, Clone)]
pub enum FeedState {
    /// Read for `period`.
    Fresh {
        /// The period read (its key).
        period: u32,
        /// What it held.
        rows: Arc<Vec<FeedRow>>,
    },
    /// The last read failed: finite quotas refuse as stale until one succeeds.
    Failed,
}

/// Every organization's feed and the counters built on it.
#[derive(Default)]
pub struct Feed {
    states: DashMap<Uuid, FeedState, super::engine::Fast>,
    counters: DashMap<Uuid, Vec<Weak<Bucket>>, super::engine::Fast>,
}

impl Feed {
    /// The organization's state; `None` until its first read.
    pub fn state(&self, organization: Uuid) -> Option<FeedState> {
        self.states.get(&organization).map(|s| s.clone())
    }

    /// A new quota counter: counted from the last read now, and on every later one.
    pub fn register(&self, scope: &QuotaScope, bucket: &Arc<Bucket>, period: u32) {
        if let Some(FeedState::Fresh { period: read, rows }) = self.state(scope.organization)
            && read == period
            && let Ok(mut counter) = bucket.counter.lock()
            && let Counter::Quota(count) = &mut *counter
        {
            count.roll(period);
            count.base = scope.base(&rows);
        }
        self.counters
            .entry(scope.organization)
            .or_default()
            .push(Arc::downgrade(bucket));
    }

    /// Organizations that have quota counters.
    pub fn organizations(&self) -> Vec<Uuid> {
        self.counters.iter().map(|e| *e.key()).collect()
    }

    /// A read of `organization` begins: returns its live counters, each told so.
    pub fn begin(&self, organization: Uuid) -> Vec<Arc<Bucket>> {
        let mut live = Vec::new();
        if let Some(mut list) = self.counters.get_mut(&organization) {
            list.retain(|weak| weak.strong_count() > 0);
            live = list.iter().filter_map(Weak::upgrade).collect();
        }
        for bucket in &live {
            with_count(bucket, |count| count.read_begins());
        }
        live
    }

    /// The read begun with [`Feed::begin`] landed.
    pub fn landed(
        &self,
        organization: Uuid,
        period: u32,
        rows: Vec<FeedRow>,
        counters: &[Arc<Bucket>],
    ) {
        for bucket in counters {
            if let Some(scope) = &bucket.quota {
                let base = scope.base(&rows);
                with_count(bucket, |count| count.read_landed(period, base));
            }
        }
        let state = FeedState::Fresh {
            period,
            rows: Arc::new(rows),
        };
        self.states.insert(organization, state);
    }

    /// The read failed.
    pub fn failed(&self, organization: Uuid) {
        self.states.insert(organization, FeedState::Failed);
    }
}

fn with_count(bucket: &Bucket, f: impl FnOnce(&mut super::windows::QuotaCount)) {
    let mut guard = match bucket.counter.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Counter::Quota(count) = &mut *guard {
        f(count);
    }
}
