//! Entitlement settings: grant, withhold, clear and list.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use uuid::Uuid;

use super::super::{EntitlementSettingView, Entitlements, NewEntitlementSetting};
use super::plans::OverrideFilter;
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::input::Json;
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;

/// Live entitlement settings, oldest first. Needs `platform.policy.read` in the
/// organization (at platform scope without one).
#[utoipa::path(params(PageQuery, OverrideFilter), tag = "policy", responses((status = 200, body = Page<EntitlementSettingView>), (status = 403, body = Problem)))]
#[get("/entitlements")]
async fn list_entitlements(
    iam: web::Data<Iam>,
    entitlements: web::Data<dyn Entitlements>,
    req: HttpRequest,
    page: PageQuery,
    filter: web::Query<OverrideFilter>,
) -> Result<web::Json<Page<EntitlementSettingView>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let limit = page.limit()?;
    let after = page.after_as(|s| s.parse::<Uuid>().ok())?;
    let org = filter.organization.as_deref();
    let found = entitlements
        .entitlement_settings(&caller, org, after, limit + 1)
        .await?;
    Ok(web::Json(Page::fetched(found, limit, |s| s.id.to_string())))
}

/// Grants or withholds an entitlement at one scope (replacing the live setting there).
/// Needs `platform.policy.write` where it applies; granting what the level above
/// withholds, or changing what an operator set, needs it at platform scope.
#[utoipa::path(tag = "policy", request_body = NewEntitlementSetting, responses((status = 201, body = EntitlementSettingView), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/entitlements")]
async fn set_entitlement(
    iam: web::Data<Iam>,
    entitlements: web::Data<dyn Entitlements>,
    req: HttpRequest,
    body: Json<NewEntitlementSetting>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let set = entitlements
        .set_entitlement(&caller, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(set))
}

/// Clears a setting: the level above decides again.
#[utoipa::path(tag = "policy", responses((status = 200, body = EntitlementSettingView), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/entitlements/{id}")]
async fn clear_entitlement(
    iam: web::Data<Iam>,
    entitlements: web::Data<dyn Entitlements>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<web::Json<EntitlementSettingView>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let cleared = entitlements
        .clear_entitlement(&caller, id.into_inner())
        .await?;
    Ok(web::Json(cleared))
}
