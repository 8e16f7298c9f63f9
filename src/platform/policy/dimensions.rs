//! Dimensions as decisions need them, parsed once from their registry entries and looked
//! up again only when the registry says they are still active.

use std::sync::Arc;

use std::collections::HashMap;

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use super::windows::Nanos;
use crate::platform::billing::Period as Month;
use crate::platform::registry::Registry;
use crate::platform::registry::packet::DimensionKind;
use crate::platform::registry::validate::rate_window_secs;

/// The registry family dimensions live in.
pub const FAMILY: &str = "quota_dimension";

/// A quota's calendar period (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A day.
    Day,
    /// A month.
    Month,
}

impl Period {
    /// The period `at` falls in, as `YYYY-MM-DD` or `YYYY-MM`.
    pub fn of(self, at: OffsetDateTime) -> String {
        match self {
            Period::Month => Month::of(at).to_string(),
            Period::Day => format!("{}-{:02}", Month::of(at), at.day()),
        }
    }

    /// The period `at` falls in, as a number that changes when the period does: months
    /// or days since year 0 and the epoch.
    pub fn key(self, at: OffsetDateTime) -> u32 {
        match self {
            Period::Month => {
                u32::try_from(at.year()).unwrap_or(0) * 12 + u32::from(u8::from(at.month()))
            }
            Period::Day => u32::try_from(at.unix_timestamp().div_euclid(86_400)).unwrap_or(0),
        }
    }

    /// Milliseconds from `now` to the period's end.
    pub fn ms_until_end(self, now: OffsetDateTime) -> u64 {
        let end = match self {
            Period::Month => Month::of(now).bounds().1,
            Period::Day => (now.date().midnight().assume_utc()) + time::Duration::DAY,
        };
        u64::try_from((end - now).whole_milliseconds()).unwrap_or(0)
    }
}

/// A dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    /// Registry id.
    pub id: String,
    /// The same, shared by decisions that name it.
    pub name: Arc<str>,
    /// The product that declares it.
    pub product: String,
    /// rate, quota, concurrency or capacity.
    pub kind: DimensionKind,
    /// What is counted.
    pub unit: String,
    /// A rate's window.
    pub window: Nanos,
    /// The window as declared (`1m`).
    pub window_text: String,
    /// A quota's period.
    pub period: Option<Period>,
    /// A quota's usage units (billing's feed).
    pub usage_units: Arc<Vec<String>>,
}

impl Dimension {
    /// From a registry entry's attributes; `None` when they do not make a dimension.
    pub fn parse(id: &str, product: &str, attributes: &serde_json::Value) -> Option<Dimension> {
        let text = |key: &str| attributes.get(key).and_then(|v| v.as_str());
        let kind: DimensionKind = serde_json::from_value(attributes.get("kind")?.clone()).ok()?;
        let window_text = text("window").unwrap_or_default().to_owned();
        let (window, period) = match kind {
            DimensionKind::Rate => (rate_window_secs(&window_text)? * 1_000_000_000, None),
            DimensionKind::Quota => match window_text.as_str() {
                "month" => (0, Some(Period::Month)),
                "day" => (0, Some(Period::Day)),
                _ => return None,
            },
            _ => (0, None),
        };
        let usage_units = attributes
            .get("usage_units")
            .and_then(|v| v.as_array())
            .map(|units| {
                units
                    .iter()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Some(Dimension {
            id: id.to_owned(),
            name: Arc::from(id),
            product: product.to_owned(),
            kind,
            unit: text("unit").unwrap_or_default().to_owned(),
            window,
            window_text,
            period,
            usage_units: Arc::new(usage_units),
        })
    }
}

/// Where decisions find dimensions.
pub trait Dimensions: Send + Sync {
    /// The active dimension `id`, or `None` (unknown, draft, retired or malformed).
    fn dimension(&self, id: &str) -> Option<Arc<Dimension>>;

    /// Changes whenever an answer of [`Dimensions::dimension`] may have.
    fn generation(&self) -> u64;
}

/// Dimensions from the registry's in-memory active set, parsed once per registry
/// generation (a reload of the active set, e.g. a retired dimension, is seen at once). Read
/// on every decision by every worker, so the parsed set is swapped whole, never locked.
pub struct RegistryDimensions {
    registry: Arc<dyn Registry>,
    parsed: ArcSwap<Parsed>,
}

/// Dimensions parsed at one registry generation.
#[derive(Default)]
struct Parsed {
    generation: u64,
    by_id: HashMap<String, Option<Arc<Dimension>>, foldhash::fast::RandomState>,
}

/// The most dimension ids remembered (unknown ones included) before starting over.
const MAX_PARSED: usize = 10_000;

impl RegistryDimensions {
    /// Over `registry`.
    pub fn new(registry: Arc<dyn Registry>) -> RegistryDimensions {
        RegistryDimensions {
            registry,
            parsed: ArcSwap::from_pointee(Parsed::default()),
        }
    }
}

impl Dimensions for RegistryDimensions {
    fn generation(&self) -> u64 {
        self.registry.generation()
    }

    fn dimension(&self, id: &str) -> Option<Arc<Dimension>> {
        let generation = self.registry.generation();
        let current = self.parsed.load();
        if current.generation == generation
            && let Some(found) = current.by_id.get(id)
        {
            return found.clone();
        }
        let parsed = self
            .registry
            .active_entry(FAMILY, id)
            .and_then(|entry| Dimension::parse(id, &entry.product, &entry.attributes))
            .map(Arc::new);
        let mut next = Parsed {
            generation,
            by_id: HashMap::default(),
        };
        if current.generation == generation && current.by_id.len() < MAX_PARSED {
            next.by_id.clone_from(&current.by_id);
        }
        next.by_id.insert(id.to_owned(), parsed.clone());
        self.parsed.store(Arc::new(next));
        parsed
    }
}
