//! `GET /metrics`: the Prometheus exposition of every metric modules and products
//! registered at start. Answered only to the peers `server.metrics_from` lists (the node's
//! own Prometheus or agent, by default loopback): the numbers are the whole server's, across
//! tenants, so no tenant key may read them.

use std::net::IpAddr;

use actix_web::{HttpRequest, HttpResponse, get, web};
use prometheus_client::registry::Registry;

use crate::kit::error::ApiError;

/// The registry and who may read it.
pub struct Exposition {
    registry: Registry,
    allowed: Vec<IpAddr>,
}

impl Exposition {
    /// Serves `registry` to the peers in `allowed`.
    pub fn new(registry: Registry, allowed: Vec<IpAddr>) -> Exposition {
        Exposition { registry, allowed }
    }
}

/// The OpenMetrics text of every registered metric.
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    exposition: web::Data<Exposition>,
) -> Result<HttpResponse, ApiError> {
    let peer = req.peer_addr().map(|a| a.ip());
    if !peer.is_some_and(|ip| exposition.allowed.contains(&ip)) {
        return Err(ApiError::Forbidden(
            "metrics are served only to the addresses server.metrics_from lists".into(),
        ));
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &exposition.registry)
        .map_err(|_| ApiError::Internal("metrics could not be encoded".into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}
