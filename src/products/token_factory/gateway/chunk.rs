//! One upstream stream event read for the client: parsed, its usage and text noted, its
//! `model` set to the catalog id, the usage the gateway asked for stripped unless the
//! client asked too, and serialized again. Events are small, but an upstream may send one
//! of up to `MAX_EVENT_BYTES`, so this runs where `offload` puts it.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::products::token_factory::offload;
use crate::products::token_factory::wire::reported_usage;

/// What an event comes to.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// `[DONE]`.
    Done,
    /// Not JSON.
    Garbled,
    /// The upstream's own error event, to pass on as it is.
    Failed(Bytes),
    /// A chunk of the answer.
    Chunk(Chunk),
}

/// A chunk of the answer, as noted and as the client gets it.
#[derive(Debug, PartialEq)]
pub struct Chunk {
    /// The event for the client; none for a usage-only chunk the client did not ask for.
    pub relayed: Option<Bytes>,
    /// The usage it reports, (prompt, completion) tokens.
    pub reported: Option<(u64, u64)>,
    /// The text it generated, every choice's.
    pub text: String,
}

/// Reads `data`, one event's payload, for a client of `model`.
pub async fn read(data: String, model: Arc<str>, client_usage: bool) -> Event {
    let size = data.len();
    let work = move || read_now(&data, &model, client_usage);
    offload::sized(size, work, || Event::Garbled).await
}

fn read_now(data: &str, model: &str, client_usage: bool) -> Event {
    if data.trim() == "[DONE]" {
        return Event::Done;
    }
    let Ok(mut chunk) = serde_json::from_str::<Value>(data) else {
        return Event::Garbled;
    };
    if chunk.get("error").is_some() {
        return Event::Failed(as_event(&chunk));
    }
    let (reported, text) = noted(&chunk);
    let usage_only =
        chunk["choices"].as_array().is_some_and(Vec::is_empty) && chunk["usage"].is_object();
    if usage_only && !client_usage {
        return Event::Chunk(Chunk {
            relayed: None,
            reported,
            text,
        });
    }
    if let Some(map) = chunk.as_object_mut() {
        if !client_usage {
            map.remove("usage");
        }
        map.insert("model".into(), Value::String(model.to_owned()));
    }
    Event::Chunk(Chunk {
        relayed: Some(as_event(&chunk)),
        reported,
        text,
    })
}

fn noted(chunk: &Value) -> (Option<(u64, u64)>, String) {
    let reported = reported_usage(chunk);
    let mut text = String::new();
    for choice in chunk["choices"].as_array().into_iter().flatten() {
        let piece = choice
            .pointer("/delta/content")
            .or_else(|| choice.get("text"))
            .and_then(Value::as_str);
        text.push_str(piece.unwrap_or(""));
    }
    (reported, text)
}

fn as_event(chunk: &Value) -> Bytes {
    Bytes::from(format!("data: {chunk}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USAGE_ONLY: &str =
        r#"{"choices":[],"model":"up","usage":{"prompt_tokens":3,"completion_tokens":5}}"#;

    fn relayed(event: &Event) -> Result<Value, String> {
        match event {
            Event::Chunk(Chunk {
                relayed: Some(bytes),
                ..
            }) => {
                let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
                let json = text
                    .trim()
                    .strip_prefix("data: ")
                    .ok_or("no data: prefix")?;
                serde_json::from_str(json).map_err(|e| e.to_string())
            }
            other => Err(format!("not a relayed chunk: {other:?}")),
        }
    }

    #[tokio::test]
    async fn a_chunk_is_renamed_and_its_text_noted_small_or_large() -> Result<(), String> {
        let large = "w".repeat(offload::INLINE_BYTES + 1);
        for text in ["hello", large.as_str()] {
            let data = serde_json::json!({"model":"up","choices":[{"delta":{"content":text}}]});
            let event = read(data.to_string(), Arc::from("demo"), false).await;
            assert_eq!(relayed(&event)?["model"], "demo");
            assert!(matches!(&event, Event::Chunk(c) if c.text == text && c.reported.is_none()));
        }
        Ok(())
    }

    #[tokio::test]
    async fn the_usage_the_gateway_asked_for_is_noted_and_kept_from_a_client_that_did_not()
    -> Result<(), String> {
        let hidden = read(USAGE_ONLY.into(), Arc::from("demo"), false).await;
        assert_eq!(
            hidden,
            Event::Chunk(Chunk {
                relayed: None,
                reported: Some((3, 5)),
                text: String::new()
            })
        );
        let shown = read(USAGE_ONLY.into(), Arc::from("demo"), true).await;
        assert_eq!(relayed(&shown)?["usage"]["completion_tokens"], 5);
        Ok(())
    }

    #[tokio::test]
    async fn done_errors_and_garbage_are_told_apart() {
        let read = |data: &str| read(data.into(), Arc::from("demo"), false);
        assert_eq!(read(" [DONE]").await, Event::Done);
        assert_eq!(read("{not json").await, Event::Garbled);
        assert!(matches!(
            read(r#"{"error":{"message":"x"}}"#).await,
            Event::Failed(_)
        ));
    }
}
