//! The built-in demo upstream, served in process: `demo-echo` answers a chat or completion
//! with the words of its last prompt, word by word when streamed, and reports its usage;
//! `demo-embed` gives each input a fixed vector derived from its text. Deterministic, so
//! tests and a first `make run` need no external model. It speaks OpenAI's wire format
//! byte for byte, so the gateway relays it exactly as it relays a real upstream.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::BodyStream;
use crate::products::token_factory::tokens;

/// Dimensions of a demo embedding unless the request asks for fewer.
const EMBED_DIMENSIONS: usize = 64;

/// What the demo answers to a chat (`chat: true`) or completion request.
pub fn generate(body: &Map<String, Value>, chat: bool, word_delay: Duration) -> BodyStream {
    let (prompt, prompt_tokens) = prompt_of(body, chat);
    let limit = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    let (words, finish) = reply_words(&prompt, limit);
    let created = time::OffsetDateTime::now_utc().unix_timestamp();
    let id = format!(
        "{}-demo{:016x}",
        if chat { "chatcmpl" } else { "cmpl" },
        seed(&prompt)
    );
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("demo-echo")
        .to_owned();
    let text: String = words.concat();
    let usage = usage(prompt_tokens, tokens::count(&text));
    let reply = Reply {
        id,
        created,
        model,
        chat,
    };
    let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !streamed {
        let whole = reply.whole(&text, finish, usage);
        return Box::pin(stream::once(
            async move { Ok(Bytes::from(whole.to_string())) },
        ));
    }
    let with_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    reply.streamed(words, finish, with_usage.then_some(usage), word_delay)
}

struct Reply {
    id: String,
    created: i64,
    model: String,
    chat: bool,
}

impl Reply {
    fn whole(&self, text: &str, finish: &str, usage: Value) -> Value {
        let choice = match self.chat {
            true => json!({"index": 0, "message": {"role": "assistant", "content": text,
                "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": finish}),
            false => json!({"text": text, "index": 0, "logprobs": null, "finish_reason": finish}),
        };
        json!({"id": self.id, "object": self.object(false), "created": self.created,
            "model": self.model, "choices": [choice], "usage": usage,
            "service_tier": "default", "system_fingerprint": "fp_demo"})
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.chat, chunk) {
            (true, false) => "chat.completion",
            (true, true) => "chat.completion.chunk",
            (false, _) => "text_completion",
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<&Value>) -> Bytes {
        let choice = match self.chat {
            true => json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}),
            false => json!({"text": delta["content"].as_str().unwrap_or(""), "index": 0,
                "logprobs": null, "finish_reason": finish}),
        };
        let mut chunk = json!({"id": self.id, "object": self.object(true), "created": self.created,
            "model": self.model, "service_tier": "default", "system_fingerprint": "fp_demo",
            "choices": [choice]});
        if let Some(usage) = usage {
            chunk["usage"] = usage.clone();
        }
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    fn streamed(
        self,
        words: Vec<String>,
        finish: &'static str,
        usage: Option<Value>,
        delay: Duration,
    ) -> BodyStream {
        let null = usage.as_ref().map(|_| Value::Null);
        let mut events = vec![self.chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
            null.as_ref(),
        )];
        let first = events.len();
        events.extend(
            words
                .iter()
                .map(|w| self.chunk(json!({"content": w}), None, null.as_ref())),
        );
        let last = events.len();
        events.push(self.chunk(json!({}), Some(finish), null.as_ref()));
        if let Some(usage) = &usage {
            let tail = json!({"id": self.id, "object": self.object(true), "created": self.created,
                "model": self.model, "service_tier": "default", "system_fingerprint": "fp_demo",
                "choices": [], "usage": usage});
            events.push(Bytes::from(format!("data: {tail}\n\n")));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let paced = events.into_iter().enumerate().map(move |(i, event)| {
            let wait = (i > first && i <= last)
                .then_some(delay)
                .filter(|d| !d.is_zero());
            async move {
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
                Ok(event)
            }
        });
        Box::pin(stream::iter(paced).then(|f| f))
    }
}

/// The prompt's last text (what is echoed) and the tokens of the whole prompt, counted as
/// the gateway counts them.
fn prompt_of(body: &Map<String, Value>, chat: bool) -> (String, u64) {
    if !chat {
        let prompt = match body.get("prompt") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        return (prompt.clone(), tokens::count(&prompt));
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut total = tokens::chat_overhead(messages.len() as u64, 0);
    let mut last = String::new();
    for message in &messages {
        total += message
            .get("role")
            .and_then(Value::as_str)
            .map_or(0, tokens::count);
        let text = text_of(message.get("content"));
        total += tokens::count(&text);
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            total += 1 + tokens::count(name);
        }
        if message.get("role").and_then(Value::as_str) == Some("user") {
            last = text;
        }
    }
    (last, total)
}

fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The reply's words (each with the space before it), at most `limit` tokens of them.
fn reply_words(prompt: &str, limit: u64) -> (Vec<String>, &'static str) {
    let mut words = Vec::new();
    let mut used = 0u64;
    let source: Vec<&str> = match prompt.split_whitespace().count() {
        0 => vec!["Hello", "from", "the", "demo", "model."],
        _ => prompt.split_whitespace().collect(),
    };
    for (i, word) in source.into_iter().enumerate() {
        let piece = if i == 0 {
            word.to_owned()
        } else {
            format!(" {word}")
        };
        let cost = tokens::count(&piece);
        if used + cost > limit {
            return (words, "length");
        }
        used += cost;
        words.push(piece);
    }
    (words, "stop")
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
}

fn seed(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    u64::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

/// What the demo answers to an embeddings request (always floats; the gateway encodes).
pub fn embed(body: &Map<String, Value>) -> BodyStream {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(EMBED_DIMENSIONS, |d| {
            (d as usize).clamp(1, EMBED_DIMENSIONS)
        });
    let prompt_tokens: u64 = inputs.iter().map(|t| tokens::count(t)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(
            |(i, text)| json!({"object": "embedding", "index": i, "embedding": vector(text, dims)}),
        )
        .collect();
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("demo-embed");
    let reply = json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}});
    let bytes = Bytes::from(reply.to_string());
    Box::pin(stream::once(async move { Ok(bytes) }))
}

/// A unit vector derived from the text's SHA-256 (the same text, the same vector).
fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(dims);
    let mut block = Sha256::digest(text.as_bytes());
    while values.len() < dims {
        for pair in block.chunks(2) {
            if values.len() == dims {
                break;
            }
            let raw = u16::from_le_bytes([pair[0], pair[1]]);
            values.push(f32::from(raw) / 32768.0 - 1.0);
        }
        block = Sha256::digest(block);
    }
    let norm = values
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    values.iter().map(|v| v / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_stops_at_max_tokens_with_finish_reason_length() {
        let (words, finish) = reply_words("one two three four", 2);
        assert_eq!((words.len(), finish), (2, "length"));
        assert_eq!(reply_words("one two", 100).1, "stop");
    }

    #[test]
    fn the_same_text_gets_the_same_unit_vector() {
        let (a, b) = (vector("hi", 8), vector("hi", 8));
        assert_eq!(a, b);
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_ne!(vector("hi", 8), vector("ho", 8));
    }
}
