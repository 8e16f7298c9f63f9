//! The five review questions of the consumer track, answered from the packet alone.

use super::packet::Packet;
use super::records::Flattened;
use super::review::{Answer, activation_order, product_owned};

fn count(flat: &Flattened, family: &str) -> usize {
    flat.records
        .iter()
        .filter(|r| r.family == family && r.state != "not_applicable")
        .count()
}

fn list_or(items: Vec<String>, none: &str) -> String {
    match items.is_empty() {
        true => none.to_owned(),
        false => items.join(", "),
    }
}

/// Answers, in the consumer track's order.
pub fn answer(packet: &Packet, flat: &Flattened) -> Vec<Answer> {
    vec![
        Answer {
            question: "Are we introducing a product or just an app/runtime?",
            answer: product_or_app(flat),
        },
        Answer {
            question: "Which routes, schemas, and events remain product-owned?",
            answer: owned(flat),
        },
        Answer {
            question: "Which shared-service registries must activate first?",
            answer: first_registries(flat),
        },
        Answer {
            question: "What evidence proves this product uses shared services correctly?",
            answer: evidence(packet, flat),
        },
        Answer {
            question: "What would force a future extraction?",
            answer: extraction(packet),
        },
    ]
}

fn product_or_app(flat: &Flattened) -> String {
    let (scopes, units, actions) = (
        count(flat, "scope"),
        count(flat, "usage_unit"),
        count(flat, "audit_action"),
    );
    let routes = product_owned(flat, "routes", "prefix");
    if scopes + units + actions == 0 && routes.is_empty() {
        return "an app/runtime: it declares no scopes, usage units, audit actions or routes of its own; package it through the App SDK instead".into();
    }
    format!(
        "a product: it declares {scopes} scope(s), {units} usage unit(s), {actions} audit action(s) and owns routes {}",
        list_or(routes, "(none)")
    )
}

fn owned(flat: &Flattened) -> String {
    let events: Vec<String> = flat
        .records
        .iter()
        .filter(|r| r.family == "event_subject")
        .map(|r| r.id.clone())
        .collect();
    format!(
        "routes: {}; schemas: {}; events: {}",
        list_or(product_owned(flat, "routes", "prefix"), "none"),
        list_or(product_owned(flat, "schemas", "name"), "none"),
        list_or(events, "none"),
    )
}

fn first_registries(flat: &Flattened) -> String {
    let order: Vec<String> = activation_order(flat)
        .into_iter()
        .map(|(family, n)| format!("{family} ({n})"))
        .collect();
    let own_prefix = flat
        .records
        .first()
        .and_then(|r| r.id.split('.').next())
        .unwrap_or_default()
        .to_owned();
    let mut external: Vec<String> = flat
        .records
        .iter()
        .flat_map(|r| {
            ["scopes", "retention_class"]
                .into_iter()
                .filter_map(|key| r.attributes.get(key))
        })
        .flat_map(|v| match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
        .filter(|id| !id.starts_with(&format!("{own_prefix}.")))
        .collect();
    external.sort();
    external.dedup();
    format!(
        "in order: {}; entries of other products that must already be active: {}",
        list_or(order, "none"),
        list_or(external, "none")
    )
}

fn evidence(packet: &Packet, flat: &Flattened) -> String {
    let types: Vec<String> = flat
        .records
        .iter()
        .filter(|r| r.family == "evidence_type" && r.state != "not_applicable")
        .map(|r| r.id.clone())
        .collect();
    let section = packet.evidence.as_ref();
    format!(
        "evidence types: {}; release: {}; UAT: {}",
        list_or(types, "none declared"),
        section
            .and_then(|s| s.release_proof.clone())
            .unwrap_or_else(|| "not stated".into()),
        section
            .and_then(|s| s.uat_proof.clone())
            .unwrap_or_else(|| "not stated".into()),
    )
}

fn extraction(packet: &Packet) -> String {
    let Some(section) = &packet.extraction else {
        return "not stated (the extraction section is missing)".into();
    };
    if let Some(na) = &section.not_applicable {
        return format!("not applicable: {} ({})", na.reason, na.owner);
    }
    let posture = section
        .posture
        .map(|p| format!("{p:?}").to_lowercase())
        .unwrap_or_else(|| "undecided".into());
    format!(
        "posture {posture}{}; triggers: {}; blockers: {}",
        section
            .reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        list_or(section.triggers.clone().unwrap_or_default(), "none stated"),
        list_or(section.blockers.clone().unwrap_or_default(), "none"),
    )
}
