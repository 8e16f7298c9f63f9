//! `/api/v1/token-factory`: the model catalog. Handlers parse, make one `Catalog` call and
//! map; the catalog authorizes every call itself.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::kit::error::{ApiError, Problem};
use crate::kit::http::input::Json;
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;
use crate::products::token_factory::analytics::{
    Analytics, CountComparison, DailyModelUsage, FailedRequest,
};
use crate::products::token_factory::{Catalog, ModelView, NewEndpoint, NewModel};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/token-factory")
            .service(list_models)
            .service(add_model)
            .service(show_model)
            .service(enable_model)
            .service(disable_model)
            .service(add_endpoint)
            .service(remove_endpoint)
            .service(daily_usage)
            .service(failures)
            .service(counts),
    );
}

/// The catalog's models by id. Needs `token_factory.models.read`.
#[utoipa::path(params(PageQuery), tag = "token_factory", responses((status = 200, body = Page<ModelView>), (status = 403, body = Problem)))]
#[get("/models")]
async fn list_models(
    iam: web::Data<Iam>,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<Page<ModelView>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let limit = page.limit()?;
    let found = catalog.models(&caller, page.after()?, limit + 1).await?;
    Ok(web::Json(Page::fetched(found, limit, |m| m.id.clone())))
}

/// Adds a model with its endpoints. Needs `token_factory.models.manage`; audited.
#[utoipa::path(tag = "token_factory", request_body = NewModel, responses((status = 201, body = ModelView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/models")]
async fn add_model(
    iam: web::Data<Iam>,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
    body: Json<NewModel>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(HttpResponse::Created().json(catalog.add_model(&caller, body.into_inner()).await?))
}

/// One model with its endpoints and their health.
#[utoipa::path(tag = "token_factory", responses((status = 200, body = ModelView), (status = 404, body = Problem)))]
#[get("/models/{id}")]
async fn show_model(
    iam: web::Data<Iam>,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<web::Json<ModelView>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(catalog.model(&caller, &id).await?))
}

/// Enables a model. Needs `token_factory.models.manage`; audited.
#[utoipa::path(tag = "token_factory", responses((status = 200, body = ModelView), (status = 404, body = Problem)))]
#[post("/models/{id}/enable")]
async fn enable_model(
    iam: web::Data<Iam>,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<web::Json<ModelView>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(catalog.set_enabled(&caller, &id, true).await?))
}

/// Disables a model: its requests get `model_not_found`. Needs
/// `token_factory.models.manage`; audited.
#[utoipa::path(tag = "token_factory", responses((status = 200, body = ModelView), (status = 404, body = Problem)))]
#[post("/models/{id}/disable")]
async fn disable_model(
    iam: web::Data<Iam>,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<web::Json<ModelView>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(catalog.set_enabled(&caller, &id, false).await?))
}

/// Registers an endpoint for a model. Needs `token_factory.routing.manage`; audited.
#[utoipa::path(tag = "token_factory", request_body = NewEndpoint, responses((status = 201, body = ModelView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/models/{id}/endpoints")]
async fn add_endpoint(
    iam: web::Data<Iam>,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
    id: web::Path<String>,
    body: Json<NewEndpoint>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let view = catalog
        .add_endpoint(&caller, &id, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Removes a model's endpoint. Needs `token_factory.routing.manage`; audited.
#[utoipa::path(tag = "token_factory", responses((status = 200, body = ModelView), (status = 404, body = Problem)))]
#[delete("/models/{id}/endpoints/{name}")]
async fn remove_endpoint(
    iam: web::Data<Iam>,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<web::Json<ModelView>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let (id, name) = path.into_inner();
    Ok(web::Json(
        catalog.remove_endpoint(&caller, &id, &name).await?,
    ))
}

/// `?days=`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct Days {
    /// 1 to 366 (default 30).
    days: Option<u16>,
}

/// An organization's traffic per day and model. Needs `token_factory.usage.read` there.
#[utoipa::path(params(Days), tag = "token_factory", responses((status = 200, body = Vec<DailyModelUsage>), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/analytics/orgs/{org}/daily")]
async fn daily_usage(
    iam: web::Data<Iam>,
    analytics: web::Data<dyn Analytics>,
    req: HttpRequest,
    org: web::Path<String>,
    days: web::Query<Days>,
) -> Result<web::Json<Vec<DailyModelUsage>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let days = days.days.unwrap_or(30);
    Ok(web::Json(analytics.daily_usage(&caller, &org, days).await?))
}

/// Failed requests across the gateway, newest first. Needs `token_factory.usage.read` at
/// platform scope.
#[utoipa::path(params(PageQuery), tag = "token_factory", responses((status = 200, body = Page<FailedRequest>), (status = 403, body = Problem)))]
#[get("/analytics/failures")]
async fn failures(
    iam: web::Data<Iam>,
    analytics: web::Data<dyn Analytics>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<Page<FailedRequest>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let limit = page.limit()?;
    let found = analytics
        .failures(&caller, page.after()?, limit + 1)
        .await?;
    Ok(web::Json(Page::fetched(found, limit, |f| {
        f.request_id.clone()
    })))
}

/// The provider's reported tokens beside the gateway's count, per model. Needs
/// `token_factory.usage.read` at platform scope.
#[utoipa::path(params(Days), tag = "token_factory", responses((status = 200, body = Vec<CountComparison>), (status = 403, body = Problem)))]
#[get("/analytics/counts")]
async fn counts(
    iam: web::Data<Iam>,
    analytics: web::Data<dyn Analytics>,
    req: HttpRequest,
    days: web::Query<Days>,
) -> Result<web::Json<Vec<CountComparison>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(
        analytics.counts(&caller, days.days.unwrap_or(7)).await?,
    ))
}
