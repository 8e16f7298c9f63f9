//! `/api/v1/iam`: the calling principal, and decisions for out-of-process products.

use actix_web::{HttpRequest, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{Decision, IamError, Principal};
use crate::app::Platform;
use crate::error::{ApiError, Problem};
use crate::http::guard;

/// Scope a service account needs to ask for decisions, declared by the platform's packet.
const DECISIONS_SCOPE: &str = "platform.decisions.check";

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/iam")
            .service(me)
            .service(decisions),
    );
}

fn principal(platform: &Platform, req: &HttpRequest) -> Result<Principal, ApiError> {
    let bearer = guard::bearer(req).ok_or_else(|| {
        IamError::Unauthenticated("send an API key: Authorization: Bearer aic_...".into())
    })?;
    Ok(platform.keys.authenticate(bearer)?)
}

/// The principal behind the bearer key.
#[utoipa::path(tag = "iam", responses((status = 200, body = Principal), (status = 401, body = Problem)))]
#[get("/me")]
async fn me(
    platform: web::Data<Platform>,
    req: HttpRequest,
) -> Result<web::Json<Principal>, ApiError> {
    Ok(web::Json(principal(&platform, &req)?))
}

/// A decision request: may the key `subject` use `scope` in this organization and project?
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    /// The API key secret presented to the product.
    subject: String,
    /// Scope to check.
    scope: String,
    /// Target organization.
    organization_id: Uuid,
    /// Target project, when the action is project-scoped.
    project_id: Option<Uuid>,
}

/// Decides for an out-of-process product; the caller's key needs `platform.decisions.check`.
#[utoipa::path(tag = "iam", request_body = DecisionRequest, responses(
    (status = 200, body = Decision), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
))]
#[post("/decisions")]
async fn decisions(
    platform: web::Data<Platform>,
    req: HttpRequest,
    body: web::Json<DecisionRequest>,
) -> Result<web::Json<Decision>, ApiError> {
    let caller = principal(&platform, &req)?;
    if !caller.scopes.iter().any(|s| s == DECISIONS_SCOPE)
        || !platform.registry.is_active("scope", DECISIONS_SCOPE)
    {
        return Err(ApiError::Forbidden(format!(
            "this key lacks the `{DECISIONS_SCOPE}` scope"
        )));
    }
    let subject = match platform.keys.authenticate(&body.subject) {
        Ok(subject) => subject,
        Err(_) => {
            return Ok(web::Json(Decision {
                allow: false,
                reason: "unauthenticated",
                message: "the key is unknown, revoked or expired".into(),
            }));
        }
    };
    Ok(web::Json(platform.keys.decide(
        &subject,
        &body.scope,
        body.organization_id,
        body.project_id,
    )))
}
