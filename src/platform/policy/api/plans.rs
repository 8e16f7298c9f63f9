//! Plans, assignments and overrides.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::super::{
    AssignmentView, NewOverride, NewPlan, OverrideView, Overrides, PlanView, Plans,
};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::input::Json;
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;

/// The latest version of every plan. Needs `platform.policy.read` at platform scope.
#[utoipa::path(params(PageQuery), tag = "policy", responses((status = 200, body = Page<PlanView>), (status = 403, body = Problem)))]
#[get("/plans")]
async fn list_plans(
    iam: web::Data<Iam>,
    plans: web::Data<dyn Plans>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<Page<PlanView>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let limit = page.limit()?;
    let found = plans.plans(&caller, page.after()?, limit + 1).await?;
    Ok(web::Json(Page::fetched(found, limit, |p| p.name.clone())))
}

/// Creates a plan, or the next version of one. Needs `platform.policy.write` at platform
/// scope.
#[utoipa::path(tag = "policy", request_body = NewPlan, responses((status = 201, body = PlanView), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/plans")]
async fn create_plan(
    iam: web::Data<Iam>,
    plans: web::Data<dyn Plans>,
    req: HttpRequest,
    body: Json<NewPlan>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(HttpResponse::Created().json(plans.create_plan(&caller, body.into_inner()).await?))
}

/// Every version of a plan, newest first.
#[utoipa::path(tag = "policy", responses((status = 200, body = Vec<PlanView>), (status = 404, body = Problem)))]
#[get("/plans/{name}")]
async fn show_plan(
    iam: web::Data<Iam>,
    plans: web::Data<dyn Plans>,
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<web::Json<Vec<PlanView>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(plans.plan(&caller, &name).await?))
}

/// An organization's plan from an instant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The plan's name.
    #[schema(max_length = 63)]
    plan: String,
    /// From when (RFC 3339; default now).
    #[serde(default, with = "time::serde::rfc3339::option")]
    effective_from: Option<OffsetDateTime>,
}

/// Puts an organization on a plan. Needs `platform.policy.write` at platform scope.
#[utoipa::path(tag = "policy", request_body = AssignBody, responses((status = 201, body = AssignmentView), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/orgs/{org}/plan")]
async fn assign(
    iam: web::Data<Iam>,
    plans: web::Data<dyn Plans>,
    req: HttpRequest,
    org: web::Path<String>,
    body: Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let body = body.into_inner();
    let view = plans
        .assign(&caller, &org, &body.plan, body.effective_from)
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// An organization's assignments, oldest first.
#[utoipa::path(tag = "policy", responses((status = 200, body = Vec<AssignmentView>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/assignments")]
async fn assignments(
    iam: web::Data<Iam>,
    plans: web::Data<dyn Plans>,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<web::Json<Vec<AssignmentView>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(plans.assignments(&caller, &org).await?))
}

/// Which overrides (or entitlement settings).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverrideFilter {
    /// Only this organization's (by slug); without it, every one (platform read).
    #[param(max_length = 100)]
    pub organization: Option<String>,
}

/// Overrides, oldest first (cleared ones included, with `live` false).
#[utoipa::path(params(PageQuery, OverrideFilter), tag = "policy", responses((status = 200, body = Page<OverrideView>), (status = 403, body = Problem)))]
#[get("/overrides")]
async fn list_overrides(
    iam: web::Data<Iam>,
    overrides: web::Data<dyn Overrides>,
    req: HttpRequest,
    page: PageQuery,
    filter: web::Query<OverrideFilter>,
) -> Result<web::Json<Page<OverrideView>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let limit = page.limit()?;
    let after = page.after_as(|s| s.parse::<Uuid>().ok())?;
    let org = filter.organization.as_deref();
    let found = overrides.overrides(&caller, org, after, limit + 1).await?;
    Ok(web::Json(Page::fetched(found, limit, |o| o.id.to_string())))
}

/// Sets an override (replacing the live one at the same scope). Needs
/// `platform.policy.write` where it applies; a wider value than the parents' is refused, and
/// so is replacing one platform authority imposed without platform authority (403).
#[utoipa::path(tag = "policy", request_body = NewOverride, responses((status = 201, body = OverrideView), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/overrides")]
async fn set_override(
    iam: web::Data<Iam>,
    overrides: web::Data<dyn Overrides>,
    req: HttpRequest,
    body: Json<NewOverride>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(HttpResponse::Created().json(overrides.set_override(&caller, body.into_inner()).await?))
}

/// Clears an override; one platform authority imposed needs platform authority.
#[utoipa::path(tag = "policy", responses((status = 200, body = OverrideView), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/overrides/{id}")]
async fn clear_override(
    iam: web::Data<Iam>,
    overrides: web::Data<dyn Overrides>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<web::Json<OverrideView>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(
        overrides.clear_override(&caller, id.into_inner()).await?,
    ))
}
