//! Input hygiene for every route: no control characters (C0, DEL and C1, as
//! `char::is_control` says) anywhere a client can put text, and a bound on every string
//! and list a body can carry.
//!
//! Paths and queries are checked by the [`refuse_control_characters`] middleware, JSON and
//! form bodies by the [`Json`] and [`Form`] extractors that every handler uses instead of
//! actix's own. Each field has a tighter bound of its own in its module; the bounds here
//! are the backstop that holds for fields nobody thought of.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::kit::error::ApiError;

/// Longest string any body field may hold, in characters.
pub const MAX_STRING_CHARS: usize = 4096;
/// Most items any list in a body may hold.
pub const MAX_LIST_ITEMS: usize = 256;
/// Deepest nesting of objects and lists in a body.
pub const MAX_DEPTH: usize = 16;

/// Refuses `text` when it holds a control character, naming `field`.
pub fn clean(field: &str, text: &str) -> Result<(), ApiError> {
    match text.chars().any(char::is_control) {
        true => Err(ApiError::Invalid {
            field: field.to_owned(),
            reason: "control characters are not allowed".into(),
        }),
        false => Ok(()),
    }
}

/// Middleware: a path or query holding a control character, percent-encoded or not, is
/// refused with 422 before any handler sees it.
pub async fn refuse_control_characters(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(refused) = check_uri(req.uri()) {
        return Ok(req.error_response(refused));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

fn check_uri(uri: &actix_web::http::Uri) -> Result<(), ApiError> {
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    clean("path", &path)?;
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let field = match key.chars().any(char::is_control) {
            true => "query".to_owned(),
            false => format!("query.{key}"),
        };
        clean(&field, &key)?;
        clean(&field, &value)?;
    }
    Ok(())
}

/// Refuses a JSON value holding a control character, a string over [`MAX_STRING_CHARS`],
/// a list over [`MAX_LIST_ITEMS`] or nesting over [`MAX_DEPTH`]; `at` is its JSON pointer.
pub fn check_json(value: &Value, at: &str, depth: usize) -> Result<(), ApiError> {
    check_json_within(value, at, depth, MAX_LIST_ITEMS)
}

/// [`check_json`] with lists bounded at `max_items` instead (a batch route's own bound).
pub fn check_json_within(
    value: &Value,
    at: &str,
    depth: usize,
    max_items: usize,
) -> Result<(), ApiError> {
    let invalid = |reason: String| ApiError::Invalid {
        field: if at.is_empty() {
            "body".into()
        } else {
            at.to_owned()
        },
        reason,
    };
    if depth > MAX_DEPTH {
        return Err(invalid(format!("nests deeper than {MAX_DEPTH} levels")));
    }
    match value {
        Value::String(text) => check_text(at, text),
        Value::Array(items) if items.len() > max_items => Err(invalid(format!(
            "holds {} items; at most {max_items} are allowed",
            items.len()
        ))),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            check_json_within(item, &format!("{at}/{i}"), depth + 1, max_items)
        }),
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            let at = format!("{at}/{}", pointer_token(key));
            check_text(&at, key)?;
            check_json_within(item, &at, depth + 1, max_items)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn check_text(at: &str, text: &str) -> Result<(), ApiError> {
    let field = if at.is_empty() { "body" } else { at };
    clean(field, text)?;
    match text.chars().count() > MAX_STRING_CHARS {
        true => Err(ApiError::Invalid {
            field: field.to_owned(),
            reason: format!("is longer than {MAX_STRING_CHARS} characters"),
        }),
        false => Ok(()),
    }
}

/// A JSON pointer token for `key`, with control characters shown as `?` so the name of
/// the field at fault is itself safe to echo.
fn pointer_token(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect::<String>()
        .replace('~', "~0")
        .replace('/', "~1")
}

/// A JSON body that passed [`check_json`] (lists bounded at `MAX_ITEMS`), then
/// deserialized into `T`.
pub struct Json<T, const MAX_ITEMS: usize = MAX_LIST_ITEMS>(pub T);

impl<T, const MAX_ITEMS: usize> Json<T, MAX_ITEMS> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T, const MAX_ITEMS: usize> std::ops::Deref for Json<T, MAX_ITEMS> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static, const MAX_ITEMS: usize> FromRequest for Json<T, MAX_ITEMS> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Json<T, MAX_ITEMS>, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // actix's extractor, configured by `problem::json_config`, enforces the size limit,
        // the content type and well-formed JSON.
        let raw = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let value = raw.await?.into_inner();
            check_json_within(&value, "", 0, MAX_ITEMS)?;
            let body = serde_json::from_value(value).map_err(|err| ApiError::Invalid {
                field: "body".into(),
                reason: err.to_string(),
            })?;
            Ok(Json(body))
        })
    }
}

/// An urlencoded form body with no control character in any name or value, then
/// deserialized into `T`.
pub struct Form<T>(pub T);

impl<T> std::ops::Deref for Form<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Form<T> {
    /// The form.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Every field of an urlencoded body, repeated names (checkboxes) included, once none
/// holds a control character or is longer than [`MAX_STRING_CHARS`].
pub fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    for (name, value) in &fields {
        let at = pointer_token(name);
        check_text(&at, name)?;
        check_text(&at, value)?;
    }
    Ok(fields)
}

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Form<T>, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let raw = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !form_type {
                return Err(ApiError::UnsupportedMediaType(
                    "expected a form (application/x-www-form-urlencoded)".into(),
                )
                .into());
            }
            let body = raw.await?;
            form_fields(&body)?;
            let form = serde_urlencoded::from_bytes(&body).map_err(|err| ApiError::Invalid {
                field: "form".into(),
                reason: err.to_string(),
            })?;
            Ok(Form(form))
        })
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_control_character_anywhere_in_json_is_named_by_its_pointer() {
        let body = json!({ "a": [ "fine", { "b\u{7}": "x" } ], "c": "ok" });

        let refused = check_json(&body, "", 0);

        assert!(
            matches!(refused, Err(ApiError::Invalid { ref field, .. }) if field == "/a/1/b?"),
            "{refused:?}"
        );
    }

    #[test]
    fn over_long_strings_over_long_lists_and_deep_nesting_are_refused() {
        let long = json!({ "name": "x".repeat(MAX_STRING_CHARS + 1) });
        let many = json!({ "models": vec!["m"; MAX_LIST_ITEMS + 1] });
        let mut deep = json!(1);
        for _ in 0..=MAX_DEPTH {
            deep = json!([deep]);
        }

        for body in [long, many, deep] {
            assert!(check_json(&body, "", 0).is_err());
        }
        assert!(check_json(&json!({ "name": "x".repeat(MAX_STRING_CHARS) }), "", 0).is_ok());
    }

    #[test]
    fn encoded_control_characters_in_paths_and_queries_are_refused() {
        for uri in ["/access/a%00b", "/x?next=%0d%0a", "/x?a%01=1", "/x?q=\u{1}"] {
            let Ok(uri) = uri.parse::<actix_web::http::Uri>() else {
                continue; // the HTTP layer refuses a raw control character itself
            };
            assert!(check_uri(&uri).is_err(), "{uri}");
        }
        let fine = "/access/acme?cursor=abc&limit=10".parse().expect("uri");
        assert!(check_uri(&fine).is_ok());
    }
}
