//! Portal sign-in: the session gate in front of every portal page, the login and logout
//! forms, and CSRF tokens. Sessions live in IAM; this is the browser side of them.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use crate::kit::error::ApiError;
use crate::kit::http::client::ClientInfo;
use crate::kit::portal::layout::{Layout, PlatformScopes, Viewer, area_of};
use crate::platform::iam::Iam;
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
/// authenticate with keys and authorize in every handler).
fn is_public(path: &str) -> bool {
    path == "/login"
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
        || ["/static/", "/api/", "/v1/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Pages that work with or without a session: an invitation link opens for someone who
/// has no account yet (the token in the path is what authorizes it).
fn session_optional(pattern: &str) -> bool {
    pattern.starts_with("/invitations/")
}

/// The platform scope a page needs, by the route pattern it matched: its area's scope;
/// nothing for the overview and sign-out; `platform.admin` for a page outside every area.
pub fn scope_for_page(pattern: &str) -> Option<&'static str> {
    match (pattern, area_of(pattern)) {
        ("/" | "/logout", _) => None,
        (_, Some(area)) => area.scope,
        (_, None) => Some("platform.admin"),
    }
}

/// 303 See Other to `to`: back to a page after a form did its work.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", to))
        .finish()
}

/// Middleware: a page needs a live session, and its area's platform scope (Access and the
/// overview are everyone's).
///
/// It decides on the path the router matches (percent-decoded), never on the raw one, and
/// on the route pattern that path resolves to. A path it cannot place gets its 404 from
/// the gate itself. Page handlers check again with [`SignedIn`].
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = req.match_info().as_str().to_owned();
    if is_public(&path) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let Some(pattern) = req.resource_map().match_pattern(&path) else {
        // Answered here, not passed on: what the gate cannot place, it does not let through.
        let unknown = ApiError::NotFound(format!("no page at {path}"));
        return Ok(req.error_response(unknown));
    };
    let current = match current_user(&req).await {
        Ok(current) => current,
        // Fail closed, and say why: the session store is the database.
        Err(unavailable) => return Ok(req.error_response(unavailable)),
    };
    let Some(current) = current else {
        if session_optional(&pattern) {
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
    // Who is asking, so that a denial below (or in the page) is audited as theirs.
    let actor = crate::platform::iam::Caller::User(current.user.clone()).actor();
    req.extensions_mut().insert(actor);
    if let Some(scope) = scope_for_page(&pattern).filter(|s| !scopes.0.contains(*s)) {
        let denied = ApiError::Forbidden(format!("this area needs the `{scope}` scope"));
        return Ok(req.error_response(denied));
    }
    let viewer = Viewer {
        display_name: current.user.display_name.clone(),
        csrf: current.csrf.clone(),
    };
    req.extensions_mut().insert(viewer);
    req.extensions_mut().insert(current);
    req.extensions_mut().insert(scopes);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// The signed-in person behind a portal page, admitted to the area of the route the page
/// was matched by. Every page handler takes one, so a page stays closed even where the
/// gate misjudged a path: without the gate's verified session there is none to extract.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session's user and CSRF token.
    pub current: CurrentUser,
    /// What the person holds across the platform.
    pub scopes: PlatformScopes,
}

impl SignedIn {
    /// The person as a caller of module operations.
    pub fn caller(&self) -> crate::platform::iam::Caller {
        crate::platform::iam::Caller::User(self.current.user.clone())
    }

    /// Refuses unless the person holds `scope` across the platform.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        match self.scopes.0.contains(scope) {
            true => Ok(()),
            false => Err(ApiError::Forbidden(format!(
                "this needs the `{scope}` scope"
            ))),
        }
    }

    fn admit(req: &HttpRequest) -> Result<SignedIn, ApiError> {
        let current = req.extensions().get::<CurrentUser>().cloned();
        let scopes = req.extensions().get::<PlatformScopes>().cloned();
        let (Some(current), Some(scopes)) = (current, scopes) else {
            return Err(ApiError::Unauthorized("sign in first".into()));
        };
        let signed = SignedIn { current, scopes };
        let pattern = req
            .match_pattern()
            .ok_or_else(|| ApiError::NotFound("this page cannot be placed in any area".into()))?;
        match scope_for_page(&pattern) {
            Some(scope) => signed.require(scope).map(|()| signed),
            None => Ok(signed),
        }
    }
}

impl actix_web::FromRequest for SignedIn {
    type Error = ApiError;
    type Future = std::future::Ready<Result<SignedIn, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(SignedIn::admit(req))
    }
}

/// What the person holds across the platform (nothing without a platform role).
async fn platform_scopes(
    req: &ServiceRequest,
    current: &CurrentUser,
) -> Result<PlatformScopes, ApiError> {
    let Some(iam) = req.app_data::<web::Data<Iam>>() else {
        return Ok(PlatformScopes::default());
    };
    let caller = crate::platform::iam::Caller::User(current.user.clone());
    match iam.access.holdings(&caller, Target::Platform).await {
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
    let (Some(iam), Some(token)) = (
        req.app_data::<web::Data<Iam>>().cloned(),
        req.cookie(SESSION_COOKIE),
    ) else {
        return Ok(None);
    };
    iam.people.session(token.value()).await.map_err(|err| {
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

/// Longest `next` kept; a longer one is dropped for the overview.
const MAX_NEXT: usize = 2048;

/// Only a path on this site: one `/` followed by visible ASCII other than a backslash.
/// Browsers drop tabs and newlines from URLs and read a backslash as `/`, so either could
/// turn `/<tab>/evil` into `//evil`, another site; such a `next` becomes the overview.
fn safe_next(next: Option<&str>) -> String {
    let same_site = |n: &str| {
        n.len() <= MAX_NEXT
            && n.starts_with('/')
            && !n.starts_with("//")
            && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
    };
    match next {
        Some(n) if same_site(n) => n.to_owned(),
        _ => "/".into(),
    }
}

fn secure(req: &HttpRequest) -> bool {
    ClientInfo::of_request(req).https
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
    let csrf =
        crate::base::encoding::random_hex(16).map_err(|e| ApiError::Internal(e.to_string()))?;
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
    iam: web::Data<Iam>,
    req: HttpRequest,
    form: crate::kit::http::input::Form<LoginForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    check_anonymous_csrf(&req, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let ip = ClientInfo::of_request(&req).ip_text();
    match iam.people.sign_in(&form.email, &form.password, &ip).await {
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
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    form: crate::kit::http::input::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    check_csrf(&req, &form.csrf)?;
    if let Some(token) = req.cookie(SESSION_COOKIE) {
        iam.people.sign_out(token.value()).await?;
    }
    let mut clear = cookie(&req, SESSION_COOKIE, String::new(), CookieDuration::ZERO);
    clear.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/login"))
        .cookie(clear)
        .finish())
}

/// Who submitted a portal form, once its CSRF token checks out: what every form handler
/// starts with.
pub fn form_caller(
    req: &HttpRequest,
    csrf: &str,
) -> Result<crate::platform::iam::Caller, ApiError> {
    check_csrf(req, csrf)?;
    caller(req)
}

/// The signed-in user behind a portal request (the gate has admitted it).
pub fn caller(req: &HttpRequest) -> Result<crate::platform::iam::Caller, ApiError> {
    req.extensions()
        .get::<CurrentUser>()
        .map(|current| crate::platform::iam::Caller::User(current.user.clone()))
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))
}
