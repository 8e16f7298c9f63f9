//! Parsing a packet and the checks that make it invalid outright (as opposed to merely
//! incomplete, which the review reports). Every issue says where: file, line and column for
//! syntax, the field path for everything else.

use std::collections::HashMap;

use serde_json::Value;

pub use crate::error::Issue;

use super::packet::Packet;
use super::records::{Flattened, Record};

/// Packet encodings accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML, as in `config/products/*.toml`.
    Toml,
    /// JSON, the same structure.
    Json,
}

/// Whether an entry outside the packet under check exists (in the registry, or in another
/// packet checked alongside).
pub trait Known {
    /// `id` is a declared entry of `family`.
    fn knows(&self, family: &str, id: &str) -> bool;
}

/// Parses `text` from `origin` (a file name, or "request body").
pub fn parse(origin: &str, text: &str, format: Format) -> Result<Packet, Issue> {
    match format {
        Format::Toml => toml::from_str(text).map_err(|err| {
            let at = match err.span() {
                Some(span) => {
                    let (line, column) = line_and_column(text, span.start);
                    format!("{origin}:{line}:{column}")
                }
                None => origin.to_owned(),
            };
            Issue {
                at,
                message: err.message().trim().to_owned(),
            }
        }),
        Format::Json => serde_json::from_str(text).map_err(|err| Issue {
            at: format!("{origin}:{}:{}", err.line(), err.column()),
            message: err.to_string(),
        }),
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// References between families: (family, attribute, family it names).
const REFERENCES: &[(&str, &str, &str)] = &[
    ("role", "scopes", "scope"),
    ("service_account", "scopes", "scope"),
    ("audit_action", "retention_class", "retention_class"),
    ("evidence_type", "retention_class", "retention_class"),
];

/// Every reason `packet` cannot be accepted; empty when it is valid (if perhaps incomplete).
pub fn check(packet: &Packet, flat: &Flattened, known: &dyn Known) -> Vec<Issue> {
    let product = packet.product.id.as_str();
    let mut issues = Vec::new();
    if !is_segment(product) {
        issues.push(issue(
            "product.id",
            format!("`{product}` must be lowercase letters, digits and _ , starting with a letter"),
        ));
    }
    if let Some(slug) = &packet.product.slug
        && !is_slug(slug)
    {
        issues.push(issue(
            "product.slug",
            format!("`{slug}` must be lowercase letters, digits and -, starting with a letter"),
        ));
    }
    let mut seen: HashMap<(&str, &str), &str> = HashMap::new();
    for record in &flat.records {
        check_id(record, product, &mut issues);
        if let Some(first) = seen.insert((record.family, record.id.as_str()), record.at.as_str()) {
            issues.push(issue(
                &record.at,
                format!(
                    "duplicate {} id `{}` (first declared at {first})",
                    record.family, record.id
                ),
            ));
        }
        if record.version == 0 {
            issues.push(issue(
                &format!("{}.version", record.at),
                "versions start at 1".into(),
            ));
        }
        if record.conflicting {
            issues.push(issue(
                &record.at,
                "either `not_applicable` or a definition, not both".into(),
            ));
        }
        check_family_rules(record, &mut issues);
    }
    check_sections(packet, flat, &mut issues);
    check_references(flat, known, &mut issues);
    issues
}

/// A section is either `not_applicable` or declared, never both.
fn check_sections(packet: &Packet, flat: &Flattened, issues: &mut Vec<Issue>) {
    let mut flagged: Vec<&str> = Vec::new();
    for slot in &flat.slots {
        let declared = !matches!(slot.slot, super::records::Slot::Missing);
        if declared
            && packet.section_not_applicable(slot.section).is_some()
            && !flagged.contains(&slot.section)
        {
            flagged.push(slot.section);
            issues.push(issue(
                slot.section,
                format!(
                    "[{}] is not_applicable but also declares `{}`; give one or the other",
                    slot.section, slot.field
                ),
            ));
        }
    }
}

fn issue(at: &str, message: String) -> Issue {
    Issue {
        at: at.to_owned(),
        message,
    }
}

fn is_segment(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_slug(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_id(record: &Record, product: &str, issues: &mut Vec<Issue>) {
    let mut segments = record.id.split('.');
    let namespace = segments.next().unwrap_or_default();
    let rest: Vec<&str> = segments.collect();
    let well_formed = !rest.is_empty()
        && rest.iter().all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if namespace != product || !well_formed {
        issues.push(issue(
            &format!("{}.id", record.at),
            format!("`{}` must be namespaced by the product: `{product}.<name>` in lowercase letters, digits and _", record.id),
        ));
    }
}

fn check_family_rules(record: &Record, issues: &mut Vec<Issue>) {
    let has = |key: &str| record.attributes.get(key).is_some();
    let kind = record.attributes.get("kind").and_then(Value::as_str);
    if record.family == "quota_dimension" && kind == Some("concurrency") && has("window") {
        issues.push(issue(
            &format!("{}.window", record.at),
            "a concurrency dimension has no window".into(),
        ));
    }
    if record.family == "portal_page" && has("body") && has("file") {
        issues.push(issue(
            &record.at,
            "give either `body` or `file`, not both".into(),
        ));
    }
}

/// The entries an entry of `family` with `attributes` refers to, as (family, id).
pub fn references_of<'a>(family: &str, attributes: &'a Value) -> Vec<(&'static str, &'a str)> {
    REFERENCES
        .iter()
        .filter(|(from, _, _)| *from == family)
        .flat_map(|(_, attribute, target)| {
            referenced(attributes.get(*attribute))
                .into_iter()
                .map(move |id| (*target, id))
        })
        .collect()
}

fn check_references(flat: &Flattened, known: &dyn Known, issues: &mut Vec<Issue>) {
    for record in &flat.records {
        for (family, attribute, target) in REFERENCES {
            if record.family != *family {
                continue;
            }
            for name in referenced(record.attributes.get(*attribute)) {
                let declared_here = flat
                    .records
                    .iter()
                    .any(|r| r.family == *target && r.id == name);
                if !declared_here && !known.knows(target, name) {
                    issues.push(issue(
                        &format!("{}.{attribute}", record.at),
                        format!("`{name}` is not a declared {target} (declare it in this packet or onboard the packet that owns it first)"),
                    ));
                }
            }
        }
    }
}

fn referenced(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}
