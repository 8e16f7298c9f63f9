//! `POST /v1/embeddings` requests, and the `base64` encoding the openai SDKs ask for by
//! default (little-endian float32 bytes).

use base64::Engine;
use serde_json::{Map, Value};

use super::error::OpenAiError;
use super::fields;

/// Parameters `CreateEmbeddingRequest` knows.
const KNOWN: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];

/// Most inputs one request may carry (OpenAI's bound).
const MAX_INPUTS: usize = 2048;

/// A checked embeddings request.
#[derive(Debug)]
pub struct EmbeddingsRequest {
    /// The model asked for.
    pub model: String,
    /// Each input's text (token-id inputs are counted, not decoded).
    pub texts: Vec<String>,
    /// Tokens given as ids.
    pub id_tokens: u64,
    /// Whether the client wants base64 instead of float arrays.
    pub base64: bool,
    /// The body, to forward.
    pub body: Map<String, Value>,
}

/// Parses and checks an embeddings request.
pub fn parse(body: &[u8]) -> Result<EmbeddingsRequest, OpenAiError> {
    let map = fields::object(body)?;
    fields::known_only(&map, KNOWN)?;
    let model = fields::model(&map)?;
    fields::integer(&map, "dimensions", 1, 65536)?;
    let base64 = match map.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(_) => {
            return Err(OpenAiError::invalid(
                "encoding_format",
                Some("invalid_value"),
                "Invalid value for 'encoding_format': expected 'float' or 'base64'.",
            ));
        }
    };
    let (texts, id_tokens) = inputs(&map)?;
    fields::clean_object(&map)?;
    Ok(EmbeddingsRequest {
        model,
        texts,
        id_tokens,
        base64,
        body: map,
    })
}

fn inputs(map: &Map<String, Value>) -> Result<(Vec<String>, u64), OpenAiError> {
    let empty = || {
        OpenAiError::invalid(
            "input",
            Some("invalid_value"),
            "'$.input' is invalid: give a non-empty string, or 1 to 2048 non-empty strings or token-id arrays.",
        )
    };
    match map.get("input") {
        None | Some(Value::Null) => Err(fields::missing("input")),
        Some(Value::String(text)) if text.is_empty() => Err(empty()),
        Some(Value::String(text)) => Ok((vec![text.clone()], 0)),
        Some(Value::Array(items)) if items.is_empty() || items.len() > MAX_INPUTS => Err(empty()),
        Some(Value::Array(items)) => {
            let mut texts = Vec::new();
            let mut ids = 0u64;
            for item in items {
                match item {
                    Value::String(text) if !text.is_empty() => texts.push(text.clone()),
                    Value::Number(n) if n.is_u64() => ids += 1,
                    Value::Array(t) if !t.is_empty() && t.iter().all(Value::is_u64) => {
                        ids += t.len() as u64
                    }
                    _ => return Err(empty()),
                }
            }
            Ok((texts, ids))
        }
        Some(other) => Err(fields::invalid_type("input", "a string or an array", other)),
    }
}

/// `values` as OpenAI's base64 embedding: the float32 little-endian bytes, base64.
pub fn to_base64(values: &[Value]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        let f = v.as_f64().unwrap_or(0.0) as f32;
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_float32_as_the_sdks_decode_it() {
        let encoded = to_base64(&[Value::from(1.0), Value::from(-0.5)]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-0.5f32).to_le_bytes()].concat()
        );
    }

    #[test]
    fn an_empty_input_and_an_unknown_format_are_refused() {
        assert!(parse(br#"{"model":"m","input":""}"#).is_err());
        assert!(parse(br#"{"model":"m","input":[]}"#).is_err());
        assert!(parse(br#"{"model":"m","input":"x","encoding_format":"hex"}"#).is_err());
        let ok = parse(br#"{"model":"m","input":["a",[1,2]],"encoding_format":"base64"}"#)
            .expect("valid");
        assert!(ok.base64 && ok.id_tokens == 2);
    }
}
