//! Flattens a packet into uniform records: one per entry, one slot per family. Review,
//! validation and the store all work on these.

use serde::Serialize;
use serde_json::{Map, Value};

use super::families::FamilyVisitor;
use super::packet::{DeclaredState, Entry, Family, NotApplicable, Packet};

/// One entry as the registry stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Family, e.g. `scope`.
    pub family: &'static str,
    /// Namespaced id.
    pub id: String,
    /// Contract version.
    pub version: u32,
    /// `active`, `draft` or `not_applicable`.
    pub state: &'static str,
    /// Meaning.
    pub description: String,
    /// Family-specific fields.
    pub attributes: Value,
    /// Why it does not apply, when it does not.
    pub not_applicable: Option<NotApplicable>,
    /// Where it is in the packet, e.g. `iam.scopes[2]`.
    #[serde(skip)]
    pub at: String,
    /// Required fields left out.
    #[serde(skip)]
    pub missing: Vec<String>,
    /// Both `not_applicable` and a definition were given.
    #[serde(skip)]
    pub conflicting: bool,
}

/// How one family is declared.
#[derive(Debug, Clone)]
pub enum Slot {
    /// Key absent.
    Missing,
    /// An empty array: neither entries nor a reason.
    Empty,
    /// `{ not_applicable = ... }`.
    NotApplicable(NotApplicable),
    /// This many entries.
    Declared(usize),
}

/// A family's place in the packet and how it is declared.
#[derive(Debug, Clone)]
pub struct FamilySlot {
    /// Section, e.g. `iam`.
    pub section: &'static str,
    /// Field, e.g. `scopes`.
    pub field: &'static str,
    /// Declaration.
    pub slot: Slot,
}

/// Everything flattened out of one packet.
#[derive(Debug, Default)]
pub struct Flattened {
    /// Entries.
    pub records: Vec<Record>,
    /// Families.
    pub slots: Vec<FamilySlot>,
    /// Ownership declarations by field, as JSON (stored with the product).
    pub ownership: Map<String, Value>,
}

impl Packet {
    /// Flattens the packet.
    pub fn flatten(&self) -> Flattened {
        let mut out = Flattened::default();
        self.visit(&mut out);
        out
    }
}

fn slot_of<T>(family: Option<&Family<T>>) -> Slot {
    match family {
        None => Slot::Missing,
        Some(Family::NotApplicable(na)) => Slot::NotApplicable(na.clone()),
        Some(Family::Entries(entries)) if entries.is_empty() => Slot::Empty,
        Some(Family::Entries(entries)) => Slot::Declared(entries.len()),
    }
}

impl FamilyVisitor for Flattened {
    fn entries<T: Entry>(
        &mut self,
        section: &'static str,
        field: &'static str,
        family: Option<&Family<T>>,
    ) {
        self.slots.push(FamilySlot {
            section,
            field,
            slot: slot_of(family),
        });
        if let Some(Family::Entries(entries)) = family {
            for (index, entry) in entries.iter().enumerate() {
                self.records
                    .push(record(entry, format!("{section}.{field}[{index}]")));
            }
        }
    }

    fn declarations<T: Serialize>(
        &mut self,
        section: &'static str,
        field: &'static str,
        family: Option<&Family<T>>,
    ) {
        self.slots.push(FamilySlot {
            section,
            field,
            slot: slot_of(family),
        });
        if let Some(family) = family {
            let value = serde_json::to_value(family).unwrap_or(Value::Null);
            self.ownership.insert(field.to_owned(), value);
        }
    }
}

const HEAD_FIELDS: &[&str] = &["id", "version", "state", "description", "not_applicable"];

fn record<T: Entry>(entry: &T, at: String) -> Record {
    let head = entry.head();
    let mut attributes = match serde_json::to_value(entry) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    attributes.retain(|key, _| !HEAD_FIELDS.contains(&key.as_str()));
    let state = match (head.not_applicable, head.state) {
        (Some(_), _) => "not_applicable",
        (None, DeclaredState::Active) => "active",
        (None, DeclaredState::Draft) => "draft",
    };
    let mut missing: Vec<String> = entry.missing().into_iter().map(str::to_owned).collect();
    if head.not_applicable.is_none() {
        missing.extend(family_rules_missing(T::FAMILY, &attributes));
    }
    Record {
        family: T::FAMILY,
        id: head.id.to_owned(),
        version: head.version,
        state,
        description: head.description.unwrap_or_default().to_owned(),
        attributes: Value::Object(attributes),
        not_applicable: head.not_applicable.cloned(),
        conflicting: head.not_applicable.is_some() && entry.has_definition(),
        at,
        missing,
    }
}

/// Required-ness that depends on other fields; an empty list or blank text counts as left out.
fn family_rules_missing(family: &str, attributes: &Map<String, Value>) -> Vec<String> {
    let blank: Vec<String> = attributes
        .iter()
        .filter(|(_, value)| match value {
            Value::Array(items) => items.is_empty(),
            Value::String(text) => text.trim().is_empty(),
            _ => false,
        })
        .map(|(key, _)| key.clone())
        .collect();
    let has = |key: &str| attributes.contains_key(key);
    let kind = attributes.get("kind").and_then(Value::as_str);
    match family {
        "quota_dimension" if matches!(kind, Some("rate" | "quota")) && !has("window") => {
            vec!["window".to_owned()]
        }
        "portal_page" if !has("body") && !has("file") => vec!["body or file".to_owned()],
        _ => Vec::new(),
    }
    .into_iter()
    .chain(blank)
    .collect()
}
