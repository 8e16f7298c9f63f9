//! `POST /v1/chat/completions` requests: checked parameter by parameter as OpenAI's
//! reference gives them, with the texts the gateway counts before forwarding.

use serde_json::{Map, Value};

use super::error::OpenAiError;
use super::fields;
use super::{Counted, Output};

/// Most messages one request may carry.
const MAX_MESSAGES: usize = 2048;

/// Parameters `CreateChatCompletionRequest` knows (others are refused, as OpenAI does).
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stream",
    "stream_options",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "functions",
    "function_call",
    "service_tier",
    "store",
    "metadata",
    "modalities",
    "audio",
    "prediction",
    "reasoning_effort",
    "verbosity",
    "web_search_options",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
];

const ROLES: &[&str] = &[
    "developer",
    "system",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Parses and checks a chat request; the texts it returns are what the gateway counts.
pub fn parse(body: &[u8]) -> Result<Counted, OpenAiError> {
    let map = fields::object(body)?;
    fields::known_only(&map, KNOWN)?;
    let model = fields::model(&map)?;
    let messages = messages(&map)?;
    let (stream, include_usage) = fields::stream(&map)?;
    check_sampling(&map)?;
    let n = fields::integer(&map, "n", 1, 128)?.unwrap_or(1) as u64;
    let max_completion = fields::integer(&map, "max_completion_tokens", 1, i64::from(u32::MAX))?;
    let max_tokens = fields::integer(&map, "max_tokens", 1, i64::from(u32::MAX))?;
    let (texts, names) = texts(messages)?;
    let overhead =
        crate::products::token_factory::tokens::chat_overhead(messages.len() as u64, names);
    fields::clean_object(&map)?;
    Ok(Counted {
        model,
        stream,
        include_usage,
        output: Output {
            asked: max_completion.or(max_tokens).map(|n| n as u64),
            param: if max_completion.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            },
            choices: n,
        },
        texts,
        overhead,
        input_param: "messages",
        body: map,
    })
}

fn messages(map: &Map<String, Value>) -> Result<&Vec<Value>, OpenAiError> {
    let messages = match map.get("messages") {
        None | Some(Value::Null) => return Err(fields::missing("messages")),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(fields::invalid_type("messages", "an array", other)),
    };
    if messages.is_empty() {
        return Err(OpenAiError::invalid(
            "messages",
            Some("empty_array"),
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        ));
    }
    if messages.len() > MAX_MESSAGES {
        return Err(OpenAiError::invalid(
            "messages",
            Some("array_above_max_length"),
            format!(
                "Invalid 'messages': array too long. Expected an array with maximum length {MAX_MESSAGES}, but got an array with length {} instead.",
                messages.len()
            ),
        ));
    }
    Ok(messages)
}

fn check_sampling(map: &Map<String, Value>) -> Result<(), OpenAiError> {
    fields::number(map, "temperature", 0.0, 2.0)?;
    fields::number(map, "top_p", 0.0, 1.0)?;
    fields::number(map, "presence_penalty", -2.0, 2.0)?;
    fields::number(map, "frequency_penalty", -2.0, 2.0)?;
    fields::integer(map, "top_logprobs", 0, 20)?;
    fields::boolean(map, "logprobs")?;
    Ok(())
}

/// The texts of every message (content, text parts, names, tool-call arguments) and how
/// many names there were.
fn texts(messages: &[Value]) -> Result<(Vec<String>, u64), OpenAiError> {
    let mut texts = Vec::with_capacity(messages.len());
    let mut names = 0;
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Value::Object(message) = message else {
            return Err(fields::invalid_type(&at, "an object", message));
        };
        let role = match message.get("role") {
            Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role,
            Some(Value::String(_)) => {
                return Err(OpenAiError::invalid(
                    &format!("{at}.role"),
                    Some("invalid_value"),
                    format!(
                        "Invalid value: '{at}.role'. Supported values are: 'developer', 'system', 'user', 'assistant', 'tool', and 'function'."
                    ),
                ));
            }
            Some(other) => {
                return Err(fields::invalid_type(
                    &format!("{at}.role"),
                    "a string",
                    other,
                ));
            }
            None => return Err(fields::missing(&format!("{at}.role"))),
        };
        texts.push(role.clone());
        content(message, &at, role, &mut texts)?;
        if let Some(Value::String(name)) = message.get("name") {
            names += 1;
            texts.push(name.clone());
        }
        if let Some(Value::Array(calls)) = message.get("tool_calls") {
            for call in calls {
                texts.push(call.to_string());
            }
        }
    }
    Ok((texts, names))
}

fn content(
    message: &Map<String, Value>,
    at: &str,
    role: &str,
    texts: &mut Vec<String>,
) -> Result<(), OpenAiError> {
    let param = format!("{at}.content");
    match message.get("content") {
        Some(Value::String(text)) => texts.push(text.clone()),
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                if let Some(Value::String(text)) = part.get("text") {
                    texts.push(text.clone());
                } else if part.get("type").is_none() {
                    return Err(fields::missing(&format!("{param}[{j}].type")));
                }
            }
        }
        None | Some(Value::Null) if role == "assistant" || role == "function" => {}
        None => return Err(fields::missing(&param)),
        Some(other) => return Err(fields::invalid_type(&param, "a string or an array", other)),
    }
    Ok(())
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_request_yields_its_texts_and_what_it_asks_for() {
        let body = br#"{"model":"m","messages":[{"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hi"}],"name":"ann"}],
            "max_tokens":50,"n":2,"stream":true,"stream_options":{"include_usage":true}}"#;
        let parsed = parse(body).expect("valid");
        assert_eq!(parsed.model, "m");
        assert!(parsed.stream && parsed.include_usage);
        assert_eq!(parsed.output.asked, Some(50));
        assert_eq!(parsed.output.choices, 2);
        assert_eq!(
            parsed.texts,
            vec!["system", "be brief", "user", "hi", "ann"]
        );
        assert_eq!(parsed.overhead, 3 * 2 + 1 + 3);
    }

    #[test]
    fn empty_messages_missing_content_and_a_bad_role_are_refused_like_openai() {
        let empty = parse(br#"{"model":"m","messages":[]}"#).unwrap_err();
        assert_eq!(
            (empty.code, empty.param.as_deref()),
            (Some("empty_array"), Some("messages"))
        );
        let missing = parse(br#"{"model":"m","messages":[{"role":"user"}]}"#).unwrap_err();
        assert_eq!(missing.param.as_deref(), Some("messages[0].content"));
        let role =
            parse(br#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#).unwrap_err();
        assert_eq!(role.code, Some("invalid_value"));
        let no_model = parse(br#"{"messages":[{"role":"user","content":"x"}]}"#).unwrap_err();
        assert_eq!((no_model.param, no_model.code), (None, None));
    }

    #[test]
    fn a_control_character_in_a_prompt_is_refused_but_a_newline_is_not() {
        assert!(
            parse(b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\nb\"}]}")
                .is_ok()
        );
        let err = parse(
            b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}",
        )
        .unwrap_err();
        assert_eq!(err.code, Some("invalid_value"));
    }
}
