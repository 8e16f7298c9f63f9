//! Service accounts and API keys of a project.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{IAM_READ, KEYS_MANAGE};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;
use crate::platform::iam::{ApiKeyView, Caller, IssuedKey, NewKey, ServiceAccount, Target};

fn project_target(path: &(String, String)) -> Target {
    Target::project(&path.0, &path.1)
}

/// Service accounts of a project.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<ServiceAccount>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/projects/{project}/service-accounts")]
pub async fn list_service_accounts(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    page: PageQuery,
) -> Result<web::Json<Page<ServiceAccount>>, ApiError> {
    let (_, place) = guard::authorize(&iam, &req, IAM_READ, project_target(&path)).await?;
    Ok(web::Json(page.page(
        iam.keys.service_accounts(place.project()?).await?,
        |s| s.name.clone(),
    )?))
}

/// A new service account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceAccount {
    /// Name, unique in the project (lowercase letters, digits, -).
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9][a-z0-9-]*$")]
    name: String,
    /// Who answers for it.
    #[schema(min_length = 1, max_length = 200)]
    owner: String,
    /// Why it exists.
    #[schema(min_length = 1, max_length = 200)]
    purpose: String,
}

/// Creates a service account (`platform.iam.write` in the project).
#[utoipa::path(tag = "iam", request_body = NewServiceAccount, responses(
    (status = 201, body = ServiceAccount), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[post("/orgs/{org}/projects/{project}/service-accounts")]
pub async fn create_service_account(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: crate::kit::http::input::Json<NewServiceAccount>,
) -> Result<HttpResponse, ApiError> {
    let (caller, _) = guard::authorize(&iam, &req, IAM_READ, project_target(&path)).await?;
    let sa = iam
        .keys
        .create_service_account(
            &caller,
            &path.0,
            &path.1,
            &body.name,
            &body.owner,
            &body.purpose,
        )
        .await?;
    Ok(HttpResponse::Created().json(sa))
}

/// Disables a service account: its keys are denied on every server within a second and it
/// gets no new ones (`platform.iam.write` in the project).
#[utoipa::path(tag = "iam", responses(
    (status = 200, body = ServiceAccount), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[post("/orgs/{org}/projects/{project}/service-accounts/{name}/disable")]
pub async fn disable_service_account(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<web::Json<ServiceAccount>, ApiError> {
    let target = Target::project(&path.0, &path.1);
    let (caller, _) = guard::authorize(&iam, &req, IAM_READ, target).await?;
    Ok(web::Json(
        iam.keys
            .disable_service_account(&caller, &path.0, &path.1, &path.2)
            .await?,
    ))
}

/// Keys of a project, newest first, never their secrets.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<ApiKeyView>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/projects/{project}/keys")]
pub async fn list_keys(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    page: PageQuery,
) -> Result<web::Json<Page<ApiKeyView>>, ApiError> {
    let (_, place) = guard::authorize(&iam, &req, IAM_READ, project_target(&path)).await?;
    Ok(web::Json(
        page.page(iam.keys.keys(place.project()?).await?, |k| k.prefix.clone())?,
    ))
}

/// A key to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A name to recognise it by.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// Scopes; each must be active and held by the caller in this project.
    #[schema(min_items = 1, max_items = 64)]
    scopes: Vec<String>,
    /// Service account (name) the key acts as; without one the key acts as the calling user.
    #[schema(max_length = 63)]
    service_account: Option<String>,
    /// Models it may call (all when absent).
    #[schema(max_items = 256)]
    models: Option<Vec<String>>,
    /// Expiry (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

/// Issues a key; the secret is in this response only.
#[utoipa::path(tag = "iam", request_body = KeyRequest, responses(
    (status = 201, body = IssuedKey), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)
))]
#[post("/orgs/{org}/projects/{project}/keys")]
pub async fn issue_key(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: crate::kit::http::input::Json<KeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let (caller, place) = guard::authorize(&iam, &req, KEYS_MANAGE, project_target(&path)).await?;
    let body = body.into_inner();
    let key = NewKey {
        holder: iam
            .keys
            .holder_in(&caller, place.project()?, body.service_account.as_deref())
            .await?,
        name: body.name,
        scopes: body.scopes,
        model_allowlist: body.models,
        expires_at: body.expires_at,
    };
    let issued: IssuedKey = iam.keys.issue_key(&caller, key).await?;
    Ok(HttpResponse::Created().json(issued))
}

/// The key `prefix`, if it belongs to the project the caller manages keys in.
async fn project_key(
    iam: &Iam,
    req: &HttpRequest,
    path: &(String, String, String),
) -> Result<(Caller, ApiKeyView), ApiError> {
    let target = Target::project(&path.0, &path.1);
    let (caller, place) = guard::authorize(iam, req, KEYS_MANAGE, target).await?;
    let key = iam.keys.key_in(place.project()?, &path.2).await?;
    Ok((caller, key))
}

/// Revokes a key; every server denies it within a second.
#[utoipa::path(tag = "iam", responses((status = 200, body = ApiKeyView), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/orgs/{org}/projects/{project}/keys/{prefix}/revoke")]
pub async fn revoke_key(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<web::Json<ApiKeyView>, ApiError> {
    let (caller, key) = project_key(&iam, &req, &path).await?;
    Ok(web::Json(iam.keys.revoke_key(&caller, &key.prefix).await?))
}

/// How long the old key keeps working.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Seconds, up to 30 days (default 0: it stops now).
    #[schema(minimum = 0, maximum = 2592000)]
    grace_secs: Option<u64>,
}

/// Issues a replacement key; the old one works for the grace period. The new secret is in
/// this response only.
#[utoipa::path(tag = "iam", request_body = Rotation, responses(
    (status = 201, body = IssuedKey), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)
))]
#[post("/orgs/{org}/projects/{project}/keys/{prefix}/rotate")]
pub async fn rotate_key(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: crate::kit::http::input::Json<Rotation>,
) -> Result<HttpResponse, ApiError> {
    let grace = body.grace_secs.unwrap_or(0);
    if grace > 30 * 24 * 3600 {
        return Err(ApiError::Invalid {
            field: "grace_secs".into(),
            reason: "must be at most 2592000 (30 days)".into(),
        });
    }
    let (caller, key) = project_key(&iam, &req, &path).await?;
    let issued = iam
        .keys
        .rotate_key(&caller, &key.prefix, std::time::Duration::from_secs(grace))
        .await?;
    Ok(HttpResponse::Created().json(issued))
}
