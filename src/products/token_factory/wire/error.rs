//! Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}` with all four
//! keys always present, and the status and codes OpenAI answers the same situation with, so
//! the openai SDKs raise the same exception and retry (or not) as they would against OpenAI.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered on `/v1`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OpenAI's `type`: `invalid_request_error`, `requests`, `tokens`, `insufficient_quota`,
    /// `server_error`.
    pub kind: &'static str,
    /// OpenAI's `code`, when it gives one.
    pub code: Option<&'static str>,
    /// The request field at fault.
    pub param: Option<String>,
    /// A message safe to show the caller.
    pub message: String,
    /// Headers to send with it (`retry-after`, `x-ratelimit-*`, `x-should-retry`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    r#type: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl OpenAiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: String,
    ) -> Self {
        OpenAiError {
            status,
            kind,
            code,
            param: None,
            message,
            headers: Vec::new(),
        }
    }

    /// 400 about `param`.
    pub fn invalid(param: &str, code: Option<&'static str>, message: impl Into<String>) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message.into(),
        );
        err.param = Some(param.to_owned());
        err
    }

    /// 400 for a body that is not the JSON object the route takes.
    pub fn unparsable(reason: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            format!(
                "We could not parse the JSON body of your request. ({reason}) The OpenAI API \
                 expects a JSON payload."
            ),
        )
    }

    /// 401 without an `Authorization: Bearer` header.
    pub fn no_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .into(),
        )
    }

    /// 401 for a key that is unknown, revoked, expired or disabled; shows only its start.
    pub fn bad_key(presented: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            format!(
                "Incorrect API key provided: {}. You can find your API keys in your project's \
                 API keys page.",
                masked(presented)
            ),
        )
    }

    /// 401 for a key without the scope a route needs (what OpenAI answers restricted keys).
    pub fn missing_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("insufficient_permissions"),
            format!(
                "You have insufficient permissions for this operation. Missing scopes: {scope}. \
                 Check the scopes of your API key."
            ),
        )
    }

    /// 404 for a model that is unknown, disabled, of the wrong kind, or not the key's.
    pub fn model_not_found(model: &str) -> Self {
        let mut err = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            format!("The model `{model}` does not exist or you do not have access to it."),
        );
        err.param = Some("model".into());
        err
    }

    /// 403 for a project (or its organization) that does not hold `entitlement`: its
    /// traffic is frozen, whatever the model.
    pub fn project_not_entitled(entitlement: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            Some("project_not_entitled"),
            format!(
                "Your project may not use this API right now: it does not hold the \
                 entitlement `{entitlement}`. Ask your organization's administrator."
            ),
        )
    }

    /// 403 for a model the project's plan or entitlements do not include.
    pub fn not_entitled(model: &str) -> Self {
        let mut err = Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            Some("model_not_entitled"),
            format!("Your project is not entitled to use the model `{model}`."),
        );
        err.param = Some("model".into());
        err
    }

    /// 404 for a model of the other kind (an embedding model on a chat route).
    pub fn wrong_kind(model: &str, kind: crate::products::token_factory::ModelKind) -> Self {
        let (what, route) = match kind {
            crate::products::token_factory::ModelKind::Chat => {
                ("a chat model", "v1/chat/completions")
            }
            crate::products::token_factory::ModelKind::Embedding => {
                ("an embedding model", "v1/embeddings")
            }
        };
        let mut err = Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            None,
            format!("`{model}` is not {what} and thus not supported in the {route} endpoint."),
        );
        err.param = Some("model".into());
        err
    }

    /// 400: the input and the output asked for do not fit the model's context.
    pub fn context_length(param: &str, context: u64, input: u64, output: u64) -> Self {
        let message = format!(
            "This model's maximum context length is {context} tokens. However, you requested \
             {} tokens ({input} in the {param}, {output} in the completion). Please reduce the \
             length of the {param} or completion.",
            input + output
        );
        Self::invalid(param, Some("context_length_exceeded"), message)
    }

    /// 429 on a rate (`requests` or `tokens`), with its retry delay and limit headers.
    pub fn rate_limited(kind: &'static str, message: String) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            kind,
            Some("rate_limit_exceeded"),
            message,
        )
    }

    /// 429 that retrying cannot fix: a quota or the balance is exhausted.
    pub fn insufficient_quota(message: String) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            Some("insufficient_quota"),
            message,
        )
        .with_header("x-should-retry", "false")
    }

    /// 503: the gateway cannot serve at all right now (its packet is not active, or it
    /// cannot commit usage).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            None,
            message.into(),
        )
    }

    /// The upstream failed (502), timed out (504) or none could take the request (503).
    pub fn upstream(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "server_error", None, message.into())
    }

    /// 500 that says nothing of the cause (which is logged).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!".into(),
        )
    }

    /// Adds a response header (values the gateway makes, always valid).
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }

    /// The body, as JSON.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    /// The body as one SSE event, for a failure after a stream has begun.
    pub fn sse_event(&self) -> String {
        format!("data: {}\n\n", self.body())
    }

    /// Stable name for metrics and analytics: the code, else the type.
    pub fn reason(&self) -> &'static str {
        self.code.unwrap_or(self.kind)
    }

    /// The response, carrying the gateway's request id.
    pub fn error_response_with(&self, request_id: &str) -> HttpResponse {
        let mut res = ResponseError::error_response(self);
        if let Ok(value) = HeaderValue::from_str(request_id) {
            res.headers_mut()
                .insert(HeaderName::from_static("x-request-id"), value);
        }
        res
    }
}

impl std::fmt::Display for OpenAiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.reason(),
            self.message
        )
    }
}

impl ResponseError for OpenAiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            res.insert_header((name.clone(), value.clone()));
        }
        let body = Body {
            error: Inner {
                message: &self.message,
                r#type: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        res.json(body)
    }
}

/// A presented key as it may be shown back: its public part (`aic_<prefix>_`) at most, and
/// never a character of a secret.
fn masked(presented: &str) -> String {
    let public = presented
        .strip_prefix("aic_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(prefix, _)| prefix)
        .filter(|p| (1..=32).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    match public {
        Some(prefix) => format!("aic_{prefix}_***"),
        None => "***".into(),
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    #[test]
    fn every_error_body_has_all_four_keys_with_nulls_where_openai_sends_them() {
        let body = OpenAiError::no_key().body();
        let error = body["error"].as_object().expect("object");
        assert_eq!(error.len(), 4);
        assert!(error["param"].is_null() && error["code"].is_null());
        assert_eq!(error["type"], "invalid_request_error");
    }

    #[test]
    fn a_bad_key_is_shown_only_by_its_public_prefix() {
        let err = OpenAiError::bad_key("aic_abcdefgh_supersecretvalue123");
        assert!(err.message.contains("aic_abcdefgh_***"), "{}", err.message);
        assert!(!err.message.contains("super") && !err.message.contains("123"));
        let other = OpenAiError::bad_key("sk-proj-0123456789");
        assert!(other.message.contains(": ***.") && !other.message.contains("sk-"));
    }
}
