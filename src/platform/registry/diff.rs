//! Comparing a packet's entries with what the registry holds: what a revision adds, changes
//! and retires, and which changes are incompatible without a version bump.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::records::Record;
use super::{Diff, Issue};

/// An entry as the registry holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Family.
    pub family: String,
    /// Id.
    pub id: String,
    /// Version.
    pub version: i32,
    /// State.
    pub state: String,
    /// Description.
    pub description: String,
    /// Family-specific fields.
    pub attributes: Value,
    /// Not-applicable declaration.
    pub not_applicable: Option<Value>,
}

/// The comparison's result.
pub struct Comparison {
    /// What changes.
    pub diff: Diff,
    /// Changes that need a version bump (or that would break another product).
    pub incompatible: Vec<Issue>,
}

fn key(family: &str, id: &str) -> String {
    format!("{family}:{id}")
}

/// Compares `new` with the product's `stored` entries; `in_use` holds entries other
/// products' active entries refer to, which may not be retired.
pub fn compare(
    stored: &[Stored],
    new: &[Record],
    in_use: &HashSet<(String, String)>,
) -> Comparison {
    let by_key: HashMap<String, &Stored> =
        stored.iter().map(|s| (key(&s.family, &s.id), s)).collect();
    let mut diff = Diff::default();
    let mut incompatible = Vec::new();
    for record in new {
        let k = key(record.family, &record.id);
        match by_key.get(&k) {
            None => diff.added.push(k),
            Some(old) => match change(old, record) {
                Change::None => {}
                Change::Compatible => diff.changed.push(k),
                Change::Incompatible(message) => incompatible.push(Issue {
                    at: record.at.clone(),
                    message,
                }),
            },
        }
    }
    let kept: HashSet<String> = new.iter().map(|r| key(r.family, &r.id)).collect();
    for old in stored.iter().filter(|s| s.state != "retired") {
        let k = key(&old.family, &old.id);
        if kept.contains(&k) {
            continue;
        }
        if in_use.contains(&(old.family.clone(), old.id.clone())) {
            incompatible.push(Issue {
                at: k.clone(),
                message:
                    "dropping it would retire an entry other products' active entries still use"
                        .into(),
            });
        }
        diff.retired.push(k);
    }
    Comparison { diff, incompatible }
}

enum Change {
    None,
    Compatible,
    Incompatible(String),
}

fn change(old: &Stored, new: &Record) -> Change {
    let version = i64::from(new.version);
    let old_version = i64::from(old.version);
    if version < old_version {
        return Change::Incompatible(format!(
            "`{}` version {version} is lower than the registered {old_version}",
            new.id
        ));
    }
    let all_changed = changed_attributes(&old.attributes, &new.attributes);
    let attributes_same = all_changed.is_empty();
    let changed: Vec<String> = all_changed
        .into_iter()
        .filter(|(name, _)| !PRESENTATION.contains(&(new.family, name.as_str())))
        .map(|(_, shown)| shown)
        .collect();
    if version == old_version && !changed.is_empty() && old.state != "retired" {
        return Change::Incompatible(format!(
            "`{}` changes {} without bumping its version (registered: {old_version})",
            new.id,
            changed.join(", ")
        ));
    }
    let na = new
        .not_applicable
        .as_ref()
        .and_then(|na| serde_json::to_value(na).ok());
    let same = version == old_version
        && attributes_same
        && old.state == new.state
        && old.description == new.description
        && old.not_applicable == na;
    if same {
        Change::None
    } else {
        Change::Compatible
    }
}

/// Attributes that change wording, not contract: editable without a version bump.
const PRESENTATION: &[(&str, &str)] = &[
    ("portal_page", "title"),
    ("portal_page", "body"),
    ("portal_page", "file"),
];

/// Attributes whose values differ, with a readable form, e.g. `aggregation` (sum -> max).
fn changed_attributes(old: &Value, new: &Value) -> Vec<(String, String)> {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| old.get(*name) != new.get(*name))
        .map(|name| {
            let show = |v: Option<&Value>| v.map_or("none".to_owned(), |v| v.to_string());
            let shown = format!(
                "`{name}` ({} -> {})",
                show(old.get(name)),
                show(new.get(name))
            );
            (name.clone(), shown)
        })
        .collect()
}
