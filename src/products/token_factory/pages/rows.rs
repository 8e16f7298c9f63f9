//! What the pages' tables show, made from the traits' views.

use crate::platform::iam::ApiKeyView;
use crate::products::token_factory::analytics::DailyModelUsage;

/// One key, as the developer page lists it (never its secret).
pub struct KeyRow {
    pub prefix: String,
    pub name: String,
    pub scopes: String,
    pub models: String,
    pub state: &'static str,
    pub last_used: String,
}

impl From<&ApiKeyView> for KeyRow {
    fn from(k: &ApiKeyView) -> KeyRow {
        let now = time::OffsetDateTime::now_utc();
        let state = match (k.revoked_at, k.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now => "expired",
            _ => "active",
        };
        KeyRow {
            prefix: k.prefix.clone(),
            name: k.name.clone(),
            scopes: k.scopes.join(", "),
            models: k
                .model_allowlist
                .as_ref()
                .map_or("all".into(), |m| m.join(", ")),
            state,
            last_used: k
                .last_used_at
                .map_or("never".into(), |at| at.date().to_string()),
        }
    }
}

/// A project's keys.
pub struct ProjectKeys {
    pub project: String,
    pub slug: String,
    pub keys: Vec<KeyRow>,
}

/// One day and model of usage.
pub struct DayRow {
    pub day: String,
    pub model: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub latency: String,
    pub overhead: String,
}

/// Newest day first.
pub fn days(usage: Vec<DailyModelUsage>) -> Vec<DayRow> {
    let mut rows: Vec<DayRow> = usage
        .into_iter()
        .map(|u| DayRow {
            day: u.day,
            model: u.model,
            requests: u.requests,
            errors: u.errors,
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            latency: format!("{:.1} ms", u.mean_latency_ms),
            overhead: format!("{:.2} ms", u.mean_overhead_ms),
        })
        .collect();
    rows.reverse();
    rows
}
