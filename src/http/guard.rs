//! Authorization seams for privileged routes, until IAM provides principals.

use actix_web::HttpRequest;

use crate::error::ApiError;

/// Platform-admin writes. Until IAM lands this admits only callers on the server's own
/// machine (the same trust as the `aicloud` CLI); IAM replaces the body with a scope check.
pub fn platform_admin(req: &HttpRequest) -> Result<(), ApiError> {
    let local = req.peer_addr().is_some_and(|peer| peer.ip().is_loopback());
    match local {
        true => Ok(()),
        false => Err(ApiError::Forbidden(
            "platform administration is only accepted from the server's own host until sign-in is available".into(),
        )),
    }
}

/// Who is calling, for audit. Until IAM, a local administrator identified by address.
pub fn actor(req: &HttpRequest) -> crate::platform::audit::Actor {
    let peer = req
        .peer_addr()
        .map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    crate::platform::audit::Actor::system(format!("http-admin@{peer}"))
}

/// The bearer token of `req`, if it carries one.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}
