//! Liveness and readiness probes.

use std::sync::Arc;

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

/// Something besides the database that must be ready before the server is: a product
/// whose packet is not active yet, say.
pub trait Ready: Send + Sync {
    /// Why it is not ready, if it is not.
    fn not_ready(&self) -> Option<String>;
}

/// Every such check, as app data.
#[derive(Clone, Default)]
pub struct Checks(pub Vec<Arc<dyn Ready>>);

/// The process is up. Touches nothing else.
#[utoipa::path(tag = "health", responses((status = 200, description = "process up", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok",
        version: crate::VERSION,
    })
}

/// The database answers, every migration is applied and every check is ready; 503 with
/// the reason otherwise.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "ready to serve", body = Readiness),
    (status = 503, description = "not ready; `detail` says why", body = Problem, content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn readyz(
    db: web::Data<Db>,
    checks: Option<web::Data<Checks>>,
) -> Result<web::Json<Readiness>, ApiError> {
    match db.readiness().await {
        Ok(()) => {}
        Err(NotReady::Unreachable(cause)) => {
            log::warn!("not ready: database unreachable: {cause}");
            return Err(ApiError::Unavailable("database unreachable".into()));
        }
        Err(NotReady::MigrationsPending(pending)) => {
            return Err(ApiError::Unavailable(format!(
                "{} migration(s) pending: {}",
                pending.len(),
                pending.join(", ")
            )));
        }
    }
    let blocked: Vec<String> = checks
        .iter()
        .flat_map(|c| c.0.iter())
        .filter_map(|c| c.not_ready())
        .collect();
    match blocked.is_empty() {
        true => Ok(web::Json(Readiness {
            status: "ready",
            database: "ok",
            migrations: "current",
        })),
        false => Err(ApiError::Unavailable(blocked.join("; "))),
    }
}
