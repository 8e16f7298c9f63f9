//! Who is calling an API route, and whether they may: every route but the probes, the
//! OpenAPI document and the public catalogue reads goes through here.
//!
//! A caller is an API key (`Authorization: Bearer aic_...`) or a portal session cookie; a
//! session may change things only with its CSRF token in `x-csrf-token`, so another site
//! cannot borrow a signed-in browser.

use actix_web::http::Method;
use actix_web::{HttpMessage, HttpRequest};

use crate::kit::error::ApiError;
use crate::platform::iam::Iam;
use crate::platform::iam::web::session::{SESSION_COOKIE, same_token};
use crate::platform::iam::{Caller, IamError, Place, Target};

/// Header carrying a session's CSRF token on API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller of `req`; its actor is left in the request's extensions, so a
/// denial of this request is audited as theirs.
pub async fn caller(iam: &Iam, req: &HttpRequest) -> Result<Caller, ApiError> {
    let caller = authenticate(iam, req).await?;
    req.extensions_mut().insert(caller.actor());
    Ok(caller)
}

async fn authenticate(iam: &Iam, req: &HttpRequest) -> Result<Caller, ApiError> {
    if let Some(bearer) = bearer(req) {
        return Ok(Caller::Key(iam.keys.authenticate(bearer)?));
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE)
        && let Some(current) = iam.people.session(cookie.value()).await?
    {
        let reads = matches!(*req.method(), Method::GET | Method::HEAD);
        let token = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !reads && !same_token(&current.csrf, token) {
            return Err(ApiError::Forbidden(format!(
                "a signed-in browser must send its CSRF token in `{CSRF_HEADER}` to change anything"
            )));
        }
        return Ok(Caller::User(current.user));
    }
    Err(IamError::Unauthenticated(
        "send an API key (Authorization: Bearer aic_...) or sign in".into(),
    )
    .into())
}

/// The caller, once it holds `scope` at `target` (404 when it cannot see the target).
pub async fn authorize(
    iam: &Iam,
    req: &HttpRequest,
    scope: &str,
    target: Target,
) -> Result<(Caller, Place), ApiError> {
    let caller = caller(iam, req).await?;
    let place = iam.access.authorize(&caller, scope, target).await?;
    Ok((caller, place))
}

/// The bearer token of `req`, if it carries one.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whether `caller` holds `scope` across the whole platform.
pub async fn holds_platform_wide(
    iam: &Iam,
    caller: &Caller,
    scope: &str,
) -> Result<bool, ApiError> {
    match iam.access.holdings(caller, Target::Platform).await {
        Ok((_, holdings)) => Ok(holdings.holds(scope)),
        Err(IamError::NotFound(_) | IamError::Forbidden(_)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// The project `ids.1` of organization `ids.0`, once `caller` holds `scope` in it; not
/// found otherwise.
pub async fn project_by_id(
    iam: &Iam,
    caller: &Caller,
    scope: &str,
    ids: (uuid::Uuid, uuid::Uuid),
) -> Result<Place, ApiError> {
    let missing = || ApiError::NotFound(format!("no project {}", ids.1));
    let visible = iam.access.visible_organizations(caller).await?;
    let org = visible
        .into_iter()
        .find(|o| o.id == ids.0)
        .ok_or_else(missing)?;
    let projects = iam.tenancy.projects(&org.slug).await?;
    let project = projects
        .into_iter()
        .find(|p| p.id == ids.1)
        .ok_or_else(missing)?;
    let target = Target::project(&org.slug, &project.slug);
    Ok(iam.access.authorize(caller, scope, target).await?)
}

/// The organization with `id`, once `caller` holds `scope` in it; not found otherwise.
pub async fn organization_by_id(
    iam: &Iam,
    caller: &Caller,
    scope: &str,
    id: uuid::Uuid,
) -> Result<Place, ApiError> {
    let visible = iam.access.visible_organizations(caller).await?;
    let org = visible
        .into_iter()
        .find(|o| o.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no organization {id}")))?;
    Ok(iam
        .access
        .authorize(caller, scope, Target::org(&org.slug))
        .await?)
}
