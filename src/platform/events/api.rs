//! `/api/v1/events`: dead letters and their replay.

use actix_web::{HttpRequest, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::DeadLetter;
use crate::app::Platform;
use crate::error::{ApiError, Problem};
use crate::http::guard;
use crate::platform::iam::Target;

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
#[serde(deny_unknown_fields)]
struct DeadLetterQuery {
    /// Include replayed ones (default false).
    all: Option<bool>,
}

/// Dead letters, newest first.
#[utoipa::path(tag = "events", params(DeadLetterQuery), responses((status = 200, body = Vec<DeadLetter>), (status = 403, body = Problem)))]
#[get("/dead-letters")]
async fn list_dead_letters(
    platform: web::Data<Platform>,
    req: HttpRequest,
    query: web::Query<DeadLetterQuery>,
) -> Result<web::Json<Vec<DeadLetter>>, ApiError> {
    guard::authorize(&platform, &req, "platform.events.read", Target::Platform).await?;
    let open_only = !query.all.unwrap_or(false);
    Ok(web::Json(platform.events.dead_letters(open_only).await?))
}

/// Puts a dead letter back in its consumer's queue (audited).
#[utoipa::path(tag = "events", responses((status = 204), (status = 404, body = Problem), (status = 403, body = Problem)))]
#[post("/dead-letters/{id}/replay")]
async fn replay(
    platform: web::Data<Platform>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let (caller, _) =
        guard::authorize(&platform, &req, "platform.events.replay", Target::Platform).await?;
    platform
        .events
        .replay(id.into_inner(), caller.actor())
        .await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}
