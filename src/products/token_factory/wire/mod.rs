//! OpenAI's wire format, as its published API reference gives it: requests checked field
//! by field, errors in its shape, server-sent events split as its SDKs read them.

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod error;
pub mod fields;
pub mod sse;

use serde_json::{Map, Value};

pub use error::OpenAiError;

/// A generation request (chat or completion), checked, with what the gateway counts.
#[derive(Debug)]
pub struct Counted {
    /// The model asked for (a catalog id).
    pub model: String,
    /// `stream: true`.
    pub stream: bool,
    /// `stream_options.include_usage: true`.
    pub include_usage: bool,
    /// The output it asks for.
    pub output: Output,
    /// Texts to count as input.
    pub texts: Vec<String>,
    /// Input tokens beyond the texts (message framing, token-id prompts).
    pub overhead: u64,
    /// The parameter input-length errors name (`messages`, `prompt`).
    pub input_param: &'static str,
    /// The body, to forward.
    pub body: Map<String, Value>,
}

/// The output a request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `max_tokens` / `max_completion_tokens`, when given.
    pub asked: Option<u64>,
    /// Which parameter gave it.
    pub param: &'static str,
    /// Choices generated (`n`, or `best_of` when larger).
    pub choices: u64,
}

/// The usage an answer or a stream chunk reports, as (prompt, completion) tokens; `None`
/// where it carries no `usage` object.
pub fn reported_usage(body: &Value) -> Option<(u64, u64)> {
    let usage = body.get("usage").filter(|u| u.is_object())?;
    let n = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    Some((n("prompt_tokens"), n("completion_tokens")))
}

/// Unix seconds of `at`, as OpenAI's `created` fields.
pub fn unix(at: time::OffsetDateTime) -> i64 {
    at.unix_timestamp()
}
