//! An upstream's whole (not streamed) answer, read for the client: parsed, its usage and
//! output noted, its `model` set to the catalog id, embeddings encoded as the client asked,
//! and serialized again. An embeddings answer for a large batch runs to tens of megabytes
//! of JSON, so it runs where `offload` puts it.

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::finish::Output;
use crate::products::token_factory::offload;
use crate::products::token_factory::wire::embeddings::to_base64;
use crate::products::token_factory::wire::reported_usage;

/// How the client wants the answer shaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// Embeddings as base64 strings.
    pub base64: bool,
}

/// What the upstream answered.
pub enum Answer {
    /// A success: the client's body, and what it reported and produced.
    Served {
        body: Bytes,
        reported: Option<(u64, u64)>,
        output: Output,
    },
    /// Its own refusal (a status of 400 or more), to pass on.
    Refused(Value),
    /// Something that is not JSON.
    NotJson,
}

/// Reads `bytes`, which the upstream answered with `status`, for a client of `model`.
pub async fn read(bytes: BytesMut, status: u16, model: &str, shape: Shape) -> Answer {
    let model = model.to_owned();
    let size = bytes.len();
    let work = move || read_now(&bytes, status, &model, shape);
    offload::sized(size, work, || Answer::NotJson).await
}

fn read_now(bytes: &[u8], status: u16, model: &str, shape: Shape) -> Answer {
    let Ok(mut body) = serde_json::from_slice::<Value>(bytes) else {
        return Answer::NotJson;
    };
    if status >= 400 {
        return Answer::Refused(body);
    }
    let (reported, output) = noted(&body);
    shape_body(&mut body, model, shape);
    match serde_json::to_vec(&body) {
        Ok(body) => Answer::Served {
            body: Bytes::from(body),
            reported,
            output,
        },
        Err(_) => Answer::NotJson,
    }
}

/// The usage the answer reports, and its output text, to count (for when there is none).
fn noted(body: &Value) -> (Option<(u64, u64)>, Output) {
    let reported = reported_usage(body);
    let texts = body["choices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.pointer("/message/content")
                .or_else(|| c.get("text"))
                .and_then(Value::as_str)
        });
    let output = Output {
        texts: texts.map(str::to_owned).collect(),
        overflow_bytes: 0,
    };
    (reported, output)
}

fn shape_body(body: &mut Value, model: &str, shape: Shape) {
    if let Some(map) = body.as_object_mut() {
        map.insert("model".into(), Value::String(model.to_owned()));
    }
    if !shape.base64 {
        return;
    }
    for item in body["data"].as_array_mut().into_iter().flatten() {
        if let Some(values) = item.get("embedding").and_then(Value::as_array) {
            let encoded = to_base64(values);
            item["embedding"] = Value::String(encoded);
        }
    }
}
