//! Usage: capture, shadow rating, unrated usage and the quota feed.

use actix_web::{HttpRequest, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::super::store::ingest::MAX_BATCH;
use super::super::{
    IngestOutcome, Metering, Period, RatedPreview, UnratedUsage, UsageEvent, UsageTotal,
};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::input::Json;
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;

/// A batch of usage events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBatch {
    /// 1 to 1000 events.
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<UsageEvent>,
}

/// One result per event, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResults {
    /// accepted, duplicate or rejected (with a reason), per event.
    results: Vec<IngestOutcome>,
}

/// What the previewed events would cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewResults {
    /// Per event.
    results: Vec<RatedPreview>,
}

/// Captures usage: each event is accepted, a duplicate, or rejected with its reason (and
/// nothing written for it). Needs `platform.billing.usage_ingest`.
#[utoipa::path(tag = "billing", request_body = UsageBatch, responses((status = 200, body = IngestResults), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/usage")]
async fn ingest(
    iam: web::Data<Iam>,
    metering: web::Data<dyn Metering>,
    req: HttpRequest,
    body: Json<UsageBatch, MAX_BATCH>,
) -> Result<web::Json<IngestResults>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let results = metering.ingest(&caller, body.into_inner().events).await?;
    Ok(web::Json(IngestResults { results }))
}

/// Rates events at today's price books and writes nothing (shadow rating). Needs
/// `platform.billing.read` at platform scope.
#[utoipa::path(tag = "billing", request_body = UsageBatch, responses((status = 200, body = PreviewResults), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/usage/preview")]
async fn preview(
    iam: web::Data<Iam>,
    metering: web::Data<dyn Metering>,
    req: HttpRequest,
    body: Json<UsageBatch, MAX_BATCH>,
) -> Result<web::Json<PreviewResults>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let results = metering.preview(&caller, body.into_inner().events).await?;
    Ok(web::Json(PreviewResults { results }))
}

/// Accepted usage no price covered, oldest first. Needs `platform.billing.read` at
/// platform scope.
#[utoipa::path(params(PageQuery), tag = "billing", responses((status = 200, body = Page<UnratedUsage>), (status = 403, body = Problem)))]
#[get("/usage/unrated")]
async fn unrated(
    iam: web::Data<Iam>,
    metering: web::Data<dyn Metering>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<Page<UnratedUsage>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let after = page.after_as(|s| s.parse::<Uuid>().ok())?;
    let limit = page.limit()?;
    let items = metering.unrated(&caller, after, limit + 1).await?;
    Ok(web::Json(Page::fetched(items, limit, |u| {
        u.usage_id.to_string()
    })))
}

/// How many unrated events were rated.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rated {
    /// Events rated and posted by this call (at most 5,000; call again for more).
    rated: usize,
}

/// Rates and posts accepted events that a price now covers (at the price in effect when
/// each occurred). Needs `platform.billing.adjust` at platform scope; audited.
#[utoipa::path(tag = "billing", responses((status = 200, body = Rated), (status = 403, body = Problem)))]
#[post("/usage/unrated/rate")]
async fn rate_unrated(
    iam: web::Data<Iam>,
    metering: web::Data<dyn Metering>,
    req: HttpRequest,
) -> Result<web::Json<Rated>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let rated = metering.rate_unrated(&caller).await?;
    Ok(web::Json(Rated { rated }))
}

/// An organization's usage in a month (`YYYY-MM`, by when it occurred), per project, actor
/// and unit: the quota feed. Needs `platform.billing.read` in the organization.
#[utoipa::path(params(PageQuery), tag = "billing", responses((status = 200, body = Page<UsageTotal>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/orgs/{org}/usage/{period}")]
async fn usage_totals(
    iam: web::Data<Iam>,
    metering: web::Data<dyn Metering>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    page: PageQuery,
) -> Result<web::Json<Page<UsageTotal>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let period = Period::parse(&path.1)?;
    let totals = metering.usage_totals(&caller, &path.0, period).await?;
    let key = |t: &UsageTotal| {
        format!(
            "{}/{}/{}/{}",
            t.project_id, t.actor_kind, t.actor_id, t.unit
        )
    };
    Ok(web::Json(page.page(totals, key)?))
}
