//! Field checks with OpenAI's messages and codes: a body is a JSON object, its parameters
//! are the ones the route knows, each of the type and in the range the API reference gives.

use serde_json::{Map, Value};

use super::error::OpenAiError;

/// Longest model id a request may name.
pub const MAX_MODEL_CHARS: usize = 256;

/// The body as a JSON object, or OpenAI's parse error.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, OpenAiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(OpenAiError::unparsable("the body is not a JSON object")),
        Err(err) => Err(OpenAiError::unparsable(format!(
            "line {} column {}",
            err.line(),
            err.column()
        ))),
    }
}

/// Refuses a parameter the route does not know, as OpenAI does.
pub fn known_only(map: &Map<String, Value>, known: &[&str]) -> Result<(), OpenAiError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(OpenAiError::invalid(
            &printable(key),
            Some("unknown_parameter"),
            format!("Unrecognized request argument supplied: {}", printable(key)),
        )),
        None => Ok(()),
    }
}

/// The required `model`.
pub fn model(map: &Map<String, Value>) -> Result<String, OpenAiError> {
    let missing = || {
        let mut err = OpenAiError::invalid("model", None, "you must provide a model parameter");
        err.param = None;
        err
    };
    match map.get("model") {
        None | Some(Value::Null) => Err(missing()),
        Some(Value::String(s)) if s.is_empty() => Err(missing()),
        Some(Value::String(s)) if s.chars().count() > MAX_MODEL_CHARS || has_control(s) => {
            Err(OpenAiError::invalid(
                "model",
                Some("invalid_value"),
                "Invalid 'model': not a model id.",
            ))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(invalid_type("model", "a string", other)),
    }
}

/// 400 for a required parameter that is absent.
pub fn missing(param: &str) -> OpenAiError {
    OpenAiError::invalid(
        param,
        Some("missing_required_parameter"),
        format!("Missing required parameter: '{param}'."),
    )
}

/// 400 for a parameter of the wrong JSON type.
pub fn invalid_type(param: &str, expected: &str, got: &Value) -> OpenAiError {
    OpenAiError::invalid(
        param,
        Some("invalid_type"),
        format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            kind_of(got)
        ),
    )
}

/// An optional boolean (null is absent).
pub fn boolean(map: &Map<String, Value>, param: &str) -> Result<Option<bool>, OpenAiError> {
    match map.get(param) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid_type(param, "a boolean", other)),
    }
}

/// An optional integer in `min..=max` (null is absent).
pub fn integer(
    map: &Map<String, Value>,
    param: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, OpenAiError> {
    let value = match map.get(param) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let Some(n) = value.as_i64() else {
        return Err(invalid_type(param, "an integer", value));
    };
    range(param, "integer", n as f64, min as f64, max as f64)?;
    Ok(Some(n))
}

/// An optional number in `min..=max` (null is absent).
pub fn number(
    map: &Map<String, Value>,
    param: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, OpenAiError> {
    let value = match map.get(param) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let Some(n) = value.as_f64() else {
        return Err(invalid_type(param, "a number", value));
    };
    range(param, "decimal", n, min, max)?;
    Ok(Some(n))
}

fn range(param: &str, what: &str, n: f64, min: f64, max: f64) -> Result<(), OpenAiError> {
    let (code, word, bound) = match () {
        _ if n < min => ("below_min_value", "minimum", format!(">= {min}")),
        _ if n > max => ("above_max_value", "maximum", format!("<= {max}")),
        _ => return Ok(()),
    };
    let code: &'static str = match (what, code) {
        ("integer", "below_min_value") => "integer_below_min_value",
        ("integer", _) => "integer_above_max_value",
        (_, "below_min_value") => "decimal_below_min_value",
        _ => "decimal_above_max_value",
    };
    Err(OpenAiError::invalid(
        param,
        Some(code),
        format!(
            "Invalid '{param}': {what} {} {word} value. Expected a value {bound}, but got {n} instead.",
            if word == "minimum" { "below" } else { "above" }
        ),
    ))
}

/// `stream` and `stream_options.include_usage`, refusing options without a stream.
pub fn stream(map: &Map<String, Value>) -> Result<(bool, bool), OpenAiError> {
    let stream = boolean(map, "stream")?.unwrap_or(false);
    let options = match map.get("stream_options") {
        None | Some(Value::Null) => return Ok((stream, false)),
        Some(Value::Object(options)) => options,
        Some(other) => return Err(invalid_type("stream_options", "an object", other)),
    };
    if !stream {
        return Err(OpenAiError::invalid(
            "stream_options",
            None,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ));
    }
    known_only(options, &["include_usage", "include_obfuscation"])?;
    let include = boolean(options, "include_usage").map_err(|_| {
        invalid_type(
            "stream_options.include_usage",
            "a boolean",
            &options["include_usage"],
        )
    })?;
    Ok((stream, include.unwrap_or(false)))
}

/// Whether `text` holds a control character other than the whitespace prompts carry
/// (line feed, carriage return, tab).
pub fn has_control_in_prose(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Whether `text` holds any control character.
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// 400 for prose holding a control character.
pub fn control_in(param: &str) -> OpenAiError {
    OpenAiError::invalid(
        param,
        Some("invalid_value"),
        format!(
            "Invalid '{param}': control characters other than line breaks and tabs are not allowed."
        ),
    )
}

/// Refuses control characters other than line breaks and tabs in every string of the body,
/// and nesting deeper than 32 levels.
pub fn clean_object(map: &Map<String, Value>) -> Result<(), OpenAiError> {
    map.iter()
        .try_for_each(|(k, v)| clean_tree(v, &printable(k), 1))
}

fn clean_tree(value: &Value, at: &str, depth: usize) -> Result<(), OpenAiError> {
    if depth > 32 {
        return Err(OpenAiError::invalid(
            at,
            Some("invalid_value"),
            format!("Invalid '{at}': nested too deeply."),
        ));
    }
    match value {
        Value::String(s) if has_control_in_prose(s) => Err(control_in(at)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| clean_tree(v, &format!("{at}[{i}]"), depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if has_control(k) {
                return Err(control_in(at));
            }
            clean_tree(v, &format!("{at}.{k}"), depth + 1)
        }),
        _ => Ok(()),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `key` with control characters shown as `?` and at most 64 characters, safe to echo.
fn printable(key: &str) -> String {
    key.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    fn map(json: &str) -> Map<String, Value> {
        object(json.as_bytes()).expect("object")
    }

    #[test]
    fn a_number_out_of_range_names_the_bound_as_openai_does() {
        let err = number(&map(r#"{"temperature": 3}"#), "temperature", 0.0, 2.0).unwrap_err();
        assert_eq!(err.code, Some("decimal_above_max_value"));
        assert_eq!(err.param.as_deref(), Some("temperature"));
        assert!(
            err.message
                .contains("Expected a value <= 2, but got 3 instead"),
            "{}",
            err.message
        );
    }

    #[test]
    fn stream_options_without_stream_is_refused() {
        let err = stream(&map(r#"{"stream_options": {"include_usage": true}}"#)).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("stream_options"));
        assert_eq!(
            stream(&map(
                r#"{"stream": true, "stream_options": {"include_usage": true}}"#
            ))
            .ok(),
            Some((true, true))
        );
    }

    #[test]
    fn prose_keeps_line_breaks_and_refuses_other_control_characters() {
        assert!(!has_control_in_prose("a\nb\tc\r\n"));
        assert!(has_control_in_prose("a\u{0}b"));
        assert!(has_control_in_prose("a\u{1b}[31m"));
    }

    #[test]
    fn an_unknown_parameter_is_named() {
        let err = known_only(&map(r#"{"model": "m", "temprature": 1}"#), &["model"]).unwrap_err();
        assert_eq!(err.code, Some("unknown_parameter"));
        assert!(err.message.ends_with("temprature"));
    }
}
