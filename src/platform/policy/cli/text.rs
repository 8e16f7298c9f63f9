//! How `aicloud policy` prints for people: aligned tables under a header line. The
//! policy pages show instants, plan values and override states with the same words.

use time::OffsetDateTime;

use super::super::{
    Considered, EffectivePolicy, Level, OverrideView, PlanLimit, PlanView, Source, Status,
};
use super::Whose;
use crate::platform::iam::Authors;

/// An instant as commands print it: UTC to the second.
pub(in crate::platform::policy) fn shown(at: &OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_default()
}

/// Rows under a header, each column as wide as its widest cell, two spaces apart.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

/// A plan's value as people read it: `DIMENSION[@TYPE/ID] = VALUE`, and whether it delegates.
pub(in crate::platform::policy) fn limit_text(limit: &PlanLimit) -> String {
    let on = match (&limit.resource_type, &limit.resource_id) {
        (Some(kind), Some(id)) => format!("@{kind}/{id}"),
        _ => String::new(),
    };
    let delegates = if limit.delegate { " (delegates)" } else { "" };
    format!("{}{on} = {}{delegates}", limit.dimension, limit.value)
}

pub(super) fn plans_text(plans: &[PlanView]) -> String {
    if plans.is_empty() {
        return "no plans".to_owned();
    }
    let mut rows = Vec::new();
    for p in plans {
        let first = p
            .limits
            .first()
            .map_or("no limits set".to_owned(), limit_text);
        rows.push(vec![
            p.name.clone(),
            format!("v{}", p.version),
            p.products.join(","),
            first,
            p.description.clone(),
        ]);
        for limit in p.limits.iter().skip(1) {
            let blank = String::new;
            rows.push(vec![blank(), blank(), blank(), limit_text(limit), blank()]);
        }
    }
    table(
        &["PLAN", "VERSION", "PRODUCTS", "LIMITS", "DESCRIPTION"],
        &rows,
    )
}

/// Whether an override applies, until when, or since when it no longer does.
pub(in crate::platform::policy) fn override_state(o: &OverrideView) -> String {
    match (o.live, o.cleared_at, o.expires_at) {
        (true, _, Some(at)) => format!("live until {}", shown(&at)),
        (true, _, None) => "live, no expiry".to_owned(),
        (false, Some(at), _) => format!("cleared {}", shown(&at)),
        (false, None, Some(at)) => format!("expired {}", shown(&at)),
        (false, None, None) => "not live".to_owned(),
    }
}

/// Who set a value, as its authority: an operator's is imposed, and a tenant cannot lift it.
pub(in crate::platform::policy) fn set_by(imposed: bool) -> &'static str {
    if imposed { "operator" } else { "tenant" }
}

pub(super) fn overrides_text(overrides: &[&OverrideView]) -> String {
    if overrides.is_empty() {
        return "no overrides".to_owned();
    }
    let rows: Vec<Vec<String>> = overrides
        .iter()
        .map(|o| {
            vec![
                o.id.to_string(),
                o.level.as_str().to_owned(),
                o.scope_id.clone(),
                o.dimension.clone(),
                o.resource.clone().unwrap_or_else(|| "-".to_owned()),
                o.value.to_string(),
                override_state(o),
                set_by(o.imposed).to_owned(),
                o.reason.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "LEVEL",
            "SCOPE",
            "DIMENSION",
            "RESOURCE",
            "VALUE",
            "STATE",
            "SET BY",
            "REASON",
        ],
        &rows,
    )
}

/// The first lines of a snapshot and its explanation: whose it is and which policy.
fn heading(whose: &Whose, p: &EffectivePolicy) -> String {
    let mut subject = format!("{}/{}", whose.organization, whose.project);
    if let Some(key) = &p.api_key {
        subject.push_str(&format!(" key {key}"));
    }
    if let Some(resource) = &p.resource {
        subject.push_str(&format!(" resource {resource}"));
    }
    format!(
        "{subject}: plan {}, policy version {}, hash {}\nproducts: {}",
        p.plan.as_deref().unwrap_or("none"),
        p.version,
        p.hash,
        p.products.join(", ")
    )
}

fn scope_text(level: Option<Level>, scope_id: Option<&String>) -> String {
    match (level, scope_id) {
        (Some(level), Some(id)) => format!("{} {id}", level.as_str()),
        (Some(level), None) => level.as_str().to_owned(),
        (None, _) => "nothing limits it".to_owned(),
    }
}

pub(super) fn snapshot_text(whose: &Whose, p: &EffectivePolicy) -> String {
    let rows: Vec<Vec<String>> = p
        .dimensions
        .iter()
        .map(|d| {
            vec![
                d.dimension.clone(),
                d.kind.clone(),
                d.unit.clone(),
                d.window.clone().unwrap_or_else(|| "-".to_owned()),
                d.ceiling.to_string(),
                scope_text(d.scope, d.scope_id.as_ref()),
            ]
        })
        .collect();
    let dims = table(
        &["DIMENSION", "KIND", "UNIT", "WINDOW", "CEILING", "FROM"],
        &rows,
    );
    let rows: Vec<Vec<String>> = p
        .entitlements
        .iter()
        .map(|e| {
            let from = match (e.scope, e.setting_id) {
                (Some(level), Some(id)) => format!("{} (setting {id})", level.as_str()),
                _ => "the entitlement's default".to_owned(),
            };
            let held = if e.held { "held" } else { "withheld" };
            vec![e.entitlement.clone(), held.to_owned(), from]
        })
        .collect();
    let held = table(&["ENTITLEMENT", "STANDING", "FROM"], &rows);
    format!("{}\n\n{dims}\n\n{held}", heading(whose, p))
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Applies => "applies",
        Status::Wider => "wider than a parent (the parent binds)",
        Status::Replaced => "replaced below (it delegates)",
        Status::Overridden => "overridden at the same scope",
        Status::Expired => "expired",
    }
}

fn source_text(source: &Source, authors: &Authors) -> String {
    match source {
        Source::Plan { name, version } => format!("plan {name}@{version}"),
        Source::Override {
            id,
            reason,
            author,
            expires_at,
        } => {
            let until = expires_at.map_or(String::new(), |at| format!(", until {}", shown(&at)));
            let author = authors.name(author);
            format!("override {id} by {author}{until}: {reason}")
        }
    }
}

fn considered_row(c: &Considered, authors: &Authors) -> Vec<String> {
    let delegates = if c.delegate { " (delegates)" } else { "" };
    vec![
        c.level.as_str().to_owned(),
        c.scope_id.clone(),
        c.resource.clone().unwrap_or_else(|| "-".to_owned()),
        format!("{}{delegates}", c.value),
        status_text(c.status).to_owned(),
        source_text(&c.source, authors),
    ]
}

pub(super) fn explain_text(whose: &Whose, p: &EffectivePolicy, authors: &Authors) -> String {
    let mut text = heading(whose, p);
    for d in &p.dimensions {
        let from = match d.scope {
            Some(_) => format!("from {}", scope_text(d.scope, d.scope_id.as_ref())),
            None => "nothing limits it".to_owned(),
        };
        text.push_str(&format!("\n\n{}: {} ({from})\n", d.dimension, d.ceiling));
        if d.considered.is_empty() {
            text.push_str("  no value is set at any scope");
            continue;
        }
        let rows: Vec<Vec<String>> = (d.considered.iter())
            .map(|c| considered_row(c, authors))
            .collect();
        let considered = table(
            &["LEVEL", "SCOPE", "RESOURCE", "VALUE", "STATUS", "SOURCE"],
            &rows,
        );
        for line in considered.lines() {
            text.push_str(&format!("  {line}\n"));
        }
        text.truncate(text.trim_end().len());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = [vec!["long-name".to_owned(), "1".to_owned()]];
        assert_eq!(table(&["A", "B"], &rows), "A          B\nlong-name  1");
    }
}
