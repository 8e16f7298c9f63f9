//! The in-memory set of active entries that [`super::Registry::is_active`] answers from: a
//! [`Snapshot`] reloaded on every onboarding's NOTIFY from any server process, with a
//! periodic full reload as a safety net.

use std::collections::HashMap;
use std::time::Duration;

use crate::base::db::snapshot::{Freshness, Snapshot};

/// The channel onboarding notifies on commit.
pub const CHANNEL: &str = "registry_changed";

/// How the active set stays fresh.
pub const FRESHNESS: Freshness = Freshness {
    channel: CHANNEL,
    poll: Duration::from_millis(200),
    resync: Duration::from_secs(30),
};

/// Active entries by family, then id.
pub type Active = HashMap<String, HashMap<String, super::ActiveEntry>>;

/// The active entry `id` of `family`, from the current set.
pub fn entry(snapshot: &Snapshot<Active>, family: &str, id: &str) -> Option<super::ActiveEntry> {
    snapshot
        .get()
        .get(family)
        .and_then(|ids| ids.get(id))
        .cloned()
}

/// Whether `family` has `id` active in the current set.
pub fn has(snapshot: &Snapshot<Active>, family: &str, id: &str) -> bool {
    snapshot
        .get()
        .get(family)
        .is_some_and(|ids| ids.contains_key(id))
}

/// Every active entry of `family`, sorted by id.
pub fn entries(snapshot: &Snapshot<Active>, family: &str) -> Vec<(String, super::ActiveEntry)> {
    let mut all: Vec<_> = snapshot
        .get()
        .get(family)
        .map(|ids| ids.iter().map(|(id, e)| (id.clone(), e.clone())).collect())
        .unwrap_or_default();
    all.sort_by(|a: &(String, super::ActiveEntry), b| a.0.cmp(&b.0));
    all
}
