//! `x-request-id` on every response. A well-formed client value is kept so a caller can
//! follow one request through logs; anything else is replaced by a fresh UUIDv7. The id,
//! with the client's address and agent, is the request's [`crate::base::context`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};

/// The header carrying the request id (and correlation id).
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, available from request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// 1 to 128 characters of `A-Z a-z 0-9 . _ -`: safe to log and to echo in a header.
pub fn is_well_formed(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The request id of `req`, if the middleware ran.
pub fn of(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.0.clone())
}

/// Middleware: assigns the id before the request runs and stamps it on the response.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_well_formed(value))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let client = crate::kit::http::client::ClientInfo::of_request(req.request());
    let context = crate::base::context::RequestContext {
        correlation_id: id.clone(),
        client_ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent,
    };
    let mut res = crate::base::context::scope(context, next.call(req)).await?;
    // A handler may answer with an id of its own (a product's request id); it is kept.
    if !res.headers().contains_key(X_REQUEST_ID)
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res)
}
