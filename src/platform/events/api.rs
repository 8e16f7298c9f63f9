//! `/api/v1/events`: dead letters and their replay.

use actix_web::{HttpRequest, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::DeadLetter;
use super::Events;
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::Target;
use crate::platform::iam::web::guard;

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/events")
            .service(list_dead_letters)
            .service(replay),
    );
}

/// Which dead letters.
#[derive(Debug, Deserialize, IntoParams)]
struct DeadLetterQuery {
    /// Include replayed ones (default false).
    all: Option<bool>,
}

/// Dead letters, oldest first (ids are time-ordered).
#[utoipa::path(tag = "events", params(DeadLetterQuery, PageQuery), responses((status = 200, body = Page<DeadLetter>), (status = 403, body = Problem)))]
#[get("/dead-letters")]
async fn list_dead_letters(
    events: web::Data<dyn Events>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    query: web::Query<DeadLetterQuery>,
    page: PageQuery,
) -> Result<web::Json<Page<DeadLetter>>, ApiError> {
    guard::authorize(&iam, &req, "platform.events.read", Target::Platform).await?;
    let open_only = !query.all.unwrap_or(false);
    Ok(web::Json(
        page.page(events.dead_letters(open_only).await?, |d| d.id.to_string())?,
    ))
}

/// Puts a dead letter back in its consumer's queue (audited).
#[utoipa::path(tag = "events", responses((status = 204), (status = 404, body = Problem), (status = 403, body = Problem)))]
#[post("/dead-letters/{id}/replay")]
async fn replay(
    events: web::Data<dyn Events>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let (caller, _) =
        guard::authorize(&iam, &req, "platform.events.replay", Target::Platform).await?;
    events.replay(id.into_inner(), caller.actor()).await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}
