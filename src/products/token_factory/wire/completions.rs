//! `POST /v1/completions` (the legacy text completion) requests.

use serde_json::{Map, Value};

use super::error::OpenAiError;
use super::fields;
use super::{Counted, Output};

/// Parameters `CreateCompletionRequest` knows.
const KNOWN: &[&str] = &[
    "model",
    "prompt",
    "best_of",
    "echo",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "n",
    "presence_penalty",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "suffix",
    "temperature",
    "top_p",
    "user",
];

/// Most prompts one request may carry.
const MAX_PROMPTS: usize = 2048;

/// OpenAI's default `max_tokens` for completions.
const DEFAULT_MAX_TOKENS: u64 = 16;

/// Parses and checks a completion request.
pub fn parse(body: &[u8]) -> Result<Counted, OpenAiError> {
    let map = fields::object(body)?;
    fields::known_only(&map, KNOWN)?;
    let model = fields::model(&map)?;
    let (stream, include_usage) = fields::stream(&map)?;
    fields::number(&map, "temperature", 0.0, 2.0)?;
    fields::number(&map, "top_p", 0.0, 1.0)?;
    fields::number(&map, "presence_penalty", -2.0, 2.0)?;
    fields::number(&map, "frequency_penalty", -2.0, 2.0)?;
    fields::integer(&map, "logprobs", 0, 5)?;
    let n = fields::integer(&map, "n", 1, 128)?.unwrap_or(1) as u64;
    let best_of = fields::integer(&map, "best_of", 0, 20)?.map(|b| b as u64);
    let max_tokens = fields::integer(&map, "max_tokens", 0, i64::from(u32::MAX))?;
    let (texts, ids) = prompt(&map)?;
    fields::clean_object(&map)?;
    Ok(Counted {
        model,
        stream,
        include_usage,
        output: Output {
            asked: Some(max_tokens.map_or(DEFAULT_MAX_TOKENS, |n| n as u64)),
            param: "max_tokens",
            choices: best_of.unwrap_or(n).max(n),
        },
        texts,
        overhead: ids,
        input_param: "prompt",
        body: map,
    })
}

/// The prompt's texts, and its tokens given as ids (already counted).
fn prompt(map: &Map<String, Value>) -> Result<(Vec<String>, u64), OpenAiError> {
    match map.get("prompt") {
        None | Some(Value::Null) => Ok((vec!["<|endoftext|>".into()], 0)),
        Some(Value::String(text)) => Ok((vec![text.clone()], 0)),
        Some(Value::Array(items)) if items.len() > MAX_PROMPTS => Err(OpenAiError::invalid(
            "prompt",
            Some("array_above_max_length"),
            format!(
                "Invalid 'prompt': array too long. Expected an array with maximum length {MAX_PROMPTS}."
            ),
        )),
        Some(Value::Array(items)) => items_of(items),
        Some(other) => Err(fields::invalid_type(
            "prompt",
            "a string or an array",
            other,
        )),
    }
}

fn items_of(items: &[Value]) -> Result<(Vec<String>, u64), OpenAiError> {
    let mut texts = Vec::new();
    let mut ids = 0u64;
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(text) => texts.push(text.clone()),
            Value::Number(_) => ids += 1,
            Value::Array(tokens) if tokens.iter().all(Value::is_u64) => ids += tokens.len() as u64,
            other => {
                return Err(fields::invalid_type(
                    &format!("prompt[{i}]"),
                    "a string, a token id or an array of token ids",
                    other,
                ));
            }
        }
    }
    Ok((texts, ids))
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    #[test]
    fn max_tokens_defaults_to_sixteen_and_token_ids_count_as_tokens() {
        let parsed = parse(br#"{"model":"m","prompt":[[1,2,3],"hi"]}"#).expect("valid");
        assert_eq!(parsed.output.asked, Some(16));
        assert_eq!(parsed.overhead, 3);
        assert_eq!(parsed.texts, vec!["hi"]);
    }
}
