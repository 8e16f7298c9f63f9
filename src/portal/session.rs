//! Portal sign-in: the session gate in front of every portal page, the login and logout
//! forms, and CSRF tokens. Sessions live in IAM; this is the browser side of them.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::layout::{Layout, PlatformScopes, area_of};
use crate::app::Platform;
use crate::error::ApiError;
use crate::platform::iam::{CurrentUser, IamError, Target};

/// Cookie holding the session token.
pub const SESSION_COOKIE: &str = "aicloud_session";
/// Cookie holding the login form's CSRF token (double submit: there is no session yet).
const LOGIN_CSRF_COOKIE: &str = "aicloud_login_csrf";

/// Registers the login and logout routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_form).service(login).service(logout);
}

/// Served without a session: sign-in itself, assets, probes, and the APIs (which
/// authenticate with keys).
fn is_public(path: &str) -> bool {
    path == "/login"
        || path == "/healthz"
        || path == "/readyz"
        || ["/static/", "/api/", "/v1/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Pages that work with or without a session: an invitation link opens for someone who
/// has no account yet.
fn session_optional(path: &str) -> bool {
    path.starts_with("/invitations/")
}

/// 303 See Other to `to`: back to a page after a form did its work.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", to))
        .finish()
}

/// Middleware: a page needs a live session, and its area's platform scope (Access and the
/// overview are everyone's). Unknown paths pass through to their 404.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = req.path().to_owned();
    if is_public(&path) || !req.request().resource_map().has_resource(&path) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let current = match current_user(&req).await {
        Ok(current) => current,
        // Fail closed, and say why: the session store is the database.
        Err(unavailable) => return Ok(req.error_response(unavailable)),
    };
    let Some(current) = current else {
        if session_optional(&path) {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
        let target = format!("/login?next={}", encode(&path));
        return Ok(req.into_response(redirect(&target)));
    };
    let scopes = match platform_scopes(&req, &current).await {
        Ok(scopes) => scopes,
        Err(unavailable) => return Ok(req.error_response(unavailable)),
    };
    // Pages outside every area (but the overview) are platform administration: fail closed.
    let needs = match (path.as_str(), area_of(&path)) {
        ("/" | "/logout", _) => None,
        (_, Some(area)) => area.scope,
        (_, None) => Some("platform.admin"),
    };
    if let Some(scope) = needs.filter(|s| !scopes.0.contains(*s)) {
        let denied = ApiError::Forbidden(format!("this area needs the `{scope}` scope"));
        return Ok(req.error_response(denied));
    }
    req.extensions_mut().insert(current);
    req.extensions_mut().insert(scopes);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// What the person holds across the platform (nothing without a platform role).
async fn platform_scopes(
    req: &ServiceRequest,
    current: &CurrentUser,
) -> Result<PlatformScopes, ApiError> {
    let Some(platform) = req.app_data::<web::Data<Platform>>() else {
        return Ok(PlatformScopes::default());
    };
    let caller = crate::platform::iam::Caller::User(current.user.clone());
    match platform.access.holdings(&caller, Target::Platform).await {
        Ok((_, holdings)) => Ok(PlatformScopes(holdings.scopes)),
        Err(IamError::Forbidden(_) | IamError::NotFound(_)) => Ok(PlatformScopes::default()),
        Err(err) => {
            log::warn!("platform scopes lookup failed: {err}");
            Err(ApiError::Unavailable(
                "access cannot be checked: the database is unavailable".into(),
            ))
        }
    }
}

/// The session's user; `Ok(None)` without a live session, `Err` when none can be checked.
async fn current_user(req: &ServiceRequest) -> Result<Option<CurrentUser>, ApiError> {
    let (Some(platform), Some(token)) = (
        req.app_data::<web::Data<Platform>>().cloned(),
        req.cookie(SESSION_COOKIE),
    ) else {
        return Ok(None);
    };
    platform.people.session(token.value()).await.map_err(|err| {
        log::warn!("session lookup failed: {err}");
        ApiError::Unavailable("sessions cannot be checked: the database is unavailable".into())
    })
}

/// Refuses a form whose CSRF token is not the session's.
pub fn check_csrf(req: &HttpRequest, submitted: &str) -> Result<(), ApiError> {
    let expected = req
        .extensions()
        .get::<CurrentUser>()
        .map(|c| c.csrf.clone());
    match expected {
        Some(expected) if !submitted.is_empty() && same_token(&expected, submitted) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "the form's security token is missing or stale; reload the page and try again".into(),
        )),
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Percent-encodes a path for the `next` parameter.
fn encode(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only local paths: never an absolute or protocol-relative URL (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".into(),
    }
}

fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

fn cookie<'a>(
    req: &HttpRequest,
    name: &'a str,
    value: String,
    max_age: CookieDuration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(req))
        .max_age(max_age)
        .finish()
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// A CSRF token for a form shown before anyone signs in, and the cookie that pairs with it
/// (double submit: there is no session to hold it).
pub fn anonymous_csrf(req: &HttpRequest) -> Result<(String, Cookie<'static>), ApiError> {
    let csrf = crate::encoding::random_hex(16).map_err(|e| ApiError::Internal(e.to_string()))?;
    let pair = cookie(
        req,
        LOGIN_CSRF_COOKIE,
        csrf.clone(),
        CookieDuration::hours(1),
    );
    Ok((csrf, pair))
}

/// Refuses a form shown before sign-in whose token does not match its cookie.
pub fn check_anonymous_csrf(req: &HttpRequest, submitted: &str) -> Result<(), ApiError> {
    let expected = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    match !expected.is_empty() && same_token(&expected, submitted) {
        true => Ok(()),
        false => Err(ApiError::Forbidden(
            "the form's security token is missing or stale; reload the page".into(),
        )),
    }
}

fn login_page(
    req: &HttpRequest,
    status: actix_web::http::StatusCode,
    next: String,
    email: String,
    error: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let (csrf, pair) = anonymous_csrf(req)?;
    let page = LoginPage {
        layout: Layout::new("Sign in", None, &[]),
        csrf: csrf.clone(),
        next,
        email,
        error,
    };
    let html = page
        .render()
        .map_err(|e| ApiError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .cookie(pair)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[get("/login")]
async fn login_form(
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, ApiError> {
    login_page(
        &req,
        actix_web::http::StatusCode::OK,
        safe_next(query.next.as_deref()),
        String::new(),
        None,
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

#[post("/login")]
async fn login(
    platform: web::Data<Platform>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_anonymous_csrf(&req, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let ip = req
        .peer_addr()
        .map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    match platform
        .people
        .sign_in(&form.email, &form.password, &ip)
        .await
    {
        Ok(signed) => {
            let max_age = CookieDuration::seconds(
                (signed.expires_at - time::OffsetDateTime::now_utc())
                    .whole_seconds()
                    .max(0),
            );
            let mut clear = cookie(&req, LOGIN_CSRF_COOKIE, String::new(), CookieDuration::ZERO);
            clear.make_removal();
            Ok(HttpResponse::SeeOther()
                .insert_header(("location", next))
                .cookie(cookie(&req, SESSION_COOKIE, signed.token, max_age))
                .cookie(clear)
                .finish())
        }
        Err(err @ (IamError::Unauthenticated(_) | IamError::Throttled(_))) => {
            let status = match err {
                IamError::Throttled(_) => actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                _ => actix_web::http::StatusCode::UNAUTHORIZED,
            };
            login_page(&req, status, next, form.email, Some(err.to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

/// A form carrying only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's token.
    pub csrf: String,
}

#[post("/logout")]
async fn logout(
    platform: web::Data<Platform>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&req, &form.csrf)?;
    if let Some(token) = req.cookie(SESSION_COOKIE) {
        platform.people.sign_out(token.value()).await?;
    }
    let mut clear = cookie(&req, SESSION_COOKIE, String::new(), CookieDuration::ZERO);
    clear.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/login"))
        .cookie(clear)
        .finish())
}

/// Refuses unless the signed-in person holds `scope` across the platform.
pub fn require_platform_scope(req: &HttpRequest, scope: &str) -> Result<(), ApiError> {
    let held = req
        .extensions()
        .get::<PlatformScopes>()
        .is_some_and(|scopes| scopes.0.contains(scope));
    match held {
        true => Ok(()),
        false => Err(ApiError::Forbidden(format!(
            "this needs the `{scope}` scope"
        ))),
    }
}

/// The signed-in user behind a portal request (the gate has admitted it).
pub fn caller(req: &HttpRequest) -> Result<crate::platform::iam::Caller, ApiError> {
    req.extensions()
        .get::<CurrentUser>()
        .map(|current| crate::platform::iam::Caller::User(current.user.clone()))
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))
}

/// Who is acting, for audit: the signed-in user.
pub fn actor(req: &HttpRequest) -> Result<crate::platform::audit::Actor, ApiError> {
    caller(req).map(|c| c.actor())
}
