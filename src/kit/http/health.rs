//! Liveness and readiness probes.

use actix_web::{get, web};
use serde::Serialize;

use crate::base::db::{Db, NotReady};
use crate::kit::error::{ApiError, Problem};

/// Answer of `/healthz`: the process is up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
}

/// Answer of `/readyz` when ready.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    pub status: &'static str,
    /// Always `ok`.
    pub database: &'static str,
    /// Always `current`.
    pub migrations: &'static str,
}

/// The process is up. Touches nothing else.
#[utoipa::path(tag = "health", responses((status = 200, description = "process up", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok",
        version: crate::VERSION,
    })
}

/// The database answers and every migration is applied; 503 with the reason otherwise.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "ready to serve", body = Readiness),
    (status = 503, description = "not ready; `detail` says why", body = Problem, content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn readyz(db: web::Data<Db>) -> Result<web::Json<Readiness>, ApiError> {
    match db.readiness().await {
        Ok(()) => Ok(web::Json(Readiness {
            status: "ready",
            database: "ok",
            migrations: "current",
        })),
        Err(NotReady::Unreachable(cause)) => {
            log::warn!("not ready: database unreachable: {cause}");
            Err(ApiError::Unavailable("database unreachable".into()))
        }
        Err(NotReady::MigrationsPending(pending)) => Err(ApiError::Unavailable(format!(
            "{} migration(s) pending: {}",
            pending.len(),
            pending.join(", ")
        ))),
    }
}
