//! Parsing a packet and the checks that make it invalid outright (as opposed to merely
//! incomplete, which the review reports). Every issue says where: file, line and column for
//! syntax, the field path for everything else.

use std::collections::HashMap;

use serde_json::Value;

pub use crate::kit::error::Issue;

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

/// Id of the platform's own packet, whose roles may grant any platform scope.
pub const PLATFORM_PRODUCT: &str = "platform";

/// The only scopes outside its own namespace that a product's role may grant. A role is
/// bound by tenants at an organization or project, so nothing here may reach beyond that
/// place or hand out authority: `platform.keys.manage` issues keys carrying no more than
/// their issuer holds, in the bound project(s). Every other platform scope (`platform.admin`
/// above all, which makes a key platform-wide) and every other product's scopes are refused.
pub const PRODUCT_ROLE_PLATFORM_SCOPES: &[&str] = &["platform.keys.manage"];

/// References between families: (family, attribute, family it names).
const REFERENCES: &[(&str, &str, &str)] = &[
    ("role", "scopes", "scope"),
    ("service_account", "scopes", "scope"),
    ("audit_action", "retention_class", "retention_class"),
    ("evidence_type", "retention_class", "retention_class"),
    ("quota_dimension", "usage_units", "usage_unit"),
    ("override_scope", "resource_type", "resource_type"),
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
    check_role_scopes(product, flat, &mut issues);
    issues
}

/// A product's roles grant its own scopes and the allow-listed platform ones, nothing else.
fn check_role_scopes(product: &str, flat: &Flattened, issues: &mut Vec<Issue>) {
    if product == PLATFORM_PRODUCT {
        return;
    }
    let own = format!("{product}.");
    for role in flat.records.iter().filter(|r| r.family == "role") {
        let Some(Value::Array(scopes)) = role.attributes.get("scopes") else {
            continue;
        };
        for (index, scope) in scopes.iter().enumerate() {
            let Some(scope) = scope.as_str() else {
                continue;
            };
            if scope.starts_with(&own) || PRODUCT_ROLE_PLATFORM_SCOPES.contains(&scope) {
                continue;
            }
            issues.push(issue(
                &format!("{}.scopes[{index}]", role.at),
                format!(
                    "role `{}` may not grant `{scope}`: a product's role grants only `{own}*` scopes and {}",
                    role.id,
                    allowed_platform_scopes()
                ),
            ));
        }
    }
}

fn allowed_platform_scopes() -> String {
    let names: Vec<String> = PRODUCT_ROLE_PLATFORM_SCOPES
        .iter()
        .map(|s| format!("`{s}`"))
        .collect();
    names.join(", ")
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
    if record.family == "quota_dimension"
        && matches!(kind, Some("concurrency" | "capacity"))
        && has("window")
    {
        issues.push(issue(
            &format!("{}.window", record.at),
            "a concurrency or capacity dimension has no window".into(),
        ));
    }
    if record.family == "quota_dimension" && kind != Some("quota") && has("usage_units") {
        issues.push(issue(
            &format!("{}.usage_units", record.at),
            "only a quota counts usage units".into(),
        ));
    }
    if record.family == "quota_dimension"
        && let Some(window) = record.attributes.get("window").and_then(Value::as_str)
        && !window_is_known(kind, window)
    {
        issues.push(issue(
            &format!("{}.window", record.at),
            format!("`{window}` is not a window: a rate takes e.g. `1s`, `1m`, `15m`, `1h`, `1d`; a quota `day` or `month`"),
        ));
    }
    if record.family == "override_scope" {
        for level in record
            .attributes
            .get("levels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let level = level.as_str().unwrap_or_default();
            if !OVERRIDE_LEVELS.contains(&level) {
                issues.push(issue(
                    &format!("{}.levels", record.at),
                    format!(
                        "`{level}` is not a level; use {}",
                        OVERRIDE_LEVELS.join(", ")
                    ),
                ));
            }
        }
    }
    if record.family == "portal_page" && has("body") && has("file") {
        issues.push(issue(
            &record.at,
            "give either `body` or `file`, not both".into(),
        ));
    }
}

/// Levels of policy's scope chain an override scope may name.
pub const OVERRIDE_LEVELS: [&str; 7] = [
    "global",
    "plan",
    "organization",
    "department",
    "project",
    "principal",
    "api_key",
];

/// Whether `window` is one policy can count: a rate's `<n><s|m|h|d>` (at most a day and
/// at least a second), or a quota's calendar `day` or `month` (UTC).
fn window_is_known(kind: Option<&str>, window: &str) -> bool {
    match kind {
        Some("quota") => matches!(window, "day" | "month"),
        Some("rate") => rate_window_secs(window).is_some(),
        _ => false,
    }
}

/// A rate window's length in seconds: `30s`, `1m`, `15m`, `1h`, `1d`; from 1 s to 1 day.
pub fn rate_window_secs(window: &str) -> Option<u64> {
    let split = window.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = window.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    let secs = n.checked_mul(unit_secs)?;
    (1..=86_400).contains(&secs).then_some(secs)
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
