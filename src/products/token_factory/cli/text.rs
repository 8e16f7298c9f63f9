//! How catalog views read on a terminal.

use super::super::ModelView;

/// One model with its endpoints.
pub fn model(m: &ModelView) -> String {
    let mut out = format!(
        "{} ({}) — {}, {}\n  context {} tokens, at most {} out{}{}\n",
        m.id,
        m.display_name,
        m.kind.as_str(),
        m.state,
        m.context_length,
        m.max_output_tokens,
        if m.premium { ", premium" } else { "" },
        match m.fallbacks.is_empty() {
            true => String::new(),
            false => format!(", falls back to {}", m.fallbacks.join(", ")),
        }
    );
    if m.endpoints.is_empty() {
        out.push_str("  no endpoints: requests get 503 until one is added\n");
    }
    for e in &m.endpoints {
        out.push_str(&format!(
            "  endpoint {}: {} as {} (weight {}, timeout {} ms, at most {} in flight{}) — {}\n",
            e.name,
            e.base_url,
            e.upstream_model,
            e.weight,
            e.timeout_ms,
            e.max_in_flight,
            e.credential_env
                .as_deref()
                .map(|v| format!(", key from ${v}"))
                .unwrap_or_default(),
            e.health
        ));
    }
    out.trim_end().to_owned()
}

/// Every model, one line each.
pub fn models(all: &[ModelView]) -> String {
    if all.is_empty() {
        return "no models".into();
    }
    let width = all.iter().map(|m| m.id.len()).max().unwrap_or(0);
    all.iter()
        .map(|m| {
            format!(
                "{:width$}  {:9}  {:8}  {} endpoint(s)  {}",
                m.id,
                m.kind.as_str(),
                m.state,
                m.endpoints.len(),
                m.display_name
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
