//! Forwarding: the candidates in turn (the model's endpoints, then its fallbacks'), each
//! given its endpoint's upstream model name, until one answers. Failures before the client
//! has seen a byte move on to the next candidate and count against the endpoint's health.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;

use super::Gateway;
use crate::products::token_factory::catalog::{Endpoint, Model};
use crate::products::token_factory::upstream::health::{Change, Slot};
use crate::products::token_factory::upstream::{Failure, Outgoing, Reply, Route, route};
use crate::products::token_factory::wire::OpenAiError;

/// An upstream that answered, with the place it holds.
pub struct Forwarded {
    /// Its answer.
    pub reply: Reply,
    /// The model that served (the one asked for, or a fallback).
    pub model: Arc<Model>,
    /// The endpoint that served.
    pub endpoint: Arc<Endpoint>,
    /// Its in-flight place, held until the response ends.
    pub slot: Slot,
    /// Time spent waiting on upstreams so far.
    pub waited: Duration,
}

/// No candidate answered: the error for the client, and the last endpoint tried.
pub struct Unforwarded {
    /// What the client is told.
    pub error: OpenAiError,
    /// `model/endpoint` of the last failure, if any was tried.
    pub tried: Option<String>,
}

impl Forwarded {
    /// `model/endpoint`, as analytics and usage name it.
    pub fn served_by(&self) -> String {
        format!("{}/{}", self.model.id, self.endpoint.name)
    }
}

impl Gateway {
    /// Sends `body` to the first candidate of `model` that answers.
    pub async fn forward(
        &self,
        model: &Arc<Model>,
        route: Route,
        body: &mut Outgoing,
    ) -> Result<Forwarded, Unforwarded> {
        let candidates = route::candidates(&self.book.get(), model);
        let mut last: Option<Failure> = None;
        let mut tried: Option<String> = None;
        let mut waited = Duration::ZERO;
        for (serving, endpoint) in candidates {
            let Some(slot) = self.upstreams.health.acquire(&endpoint) else {
                continue;
            };
            body.name_model(&endpoint.upstream_model);
            let began = Instant::now();
            let sent = self.upstreams.send(&endpoint, route, body).await;
            waited += began.elapsed();
            match sent {
                Ok(reply) => {
                    if self.upstreams.health.success(endpoint.id) == Change::Restored {
                        log::info!(
                            "endpoint {}/{} is back in rotation",
                            serving.id,
                            endpoint.name
                        );
                    }
                    return Ok(Forwarded {
                        reply,
                        model: serving,
                        endpoint,
                        slot,
                        waited,
                    });
                }
                Err(failure) => {
                    log::warn!(
                        "endpoint {}/{} failed: {failure}",
                        serving.id,
                        endpoint.name
                    );
                    self.metrics.upstream_error(
                        &format!("{}/{}", serving.id, endpoint.name),
                        failure.kind(),
                    );
                    if self.upstreams.health.failure(endpoint.id) == Change::Ejected {
                        log::warn!(
                            "endpoint {}/{} is out of rotation until a probe succeeds",
                            serving.id,
                            endpoint.name
                        );
                    }
                    last = Some(failure);
                    tried = Some(format!("{}/{}", serving.id, endpoint.name));
                }
            }
        }
        Err(Unforwarded {
            error: no_upstream(last),
            tried,
        })
    }
}

/// The error when no candidate answered: 504 after a timeout, 502 after another failure,
/// 503 when none could take the request at all.
fn no_upstream(last: Option<Failure>) -> OpenAiError {
    match last {
        Some(Failure::Timeout) => OpenAiError::upstream(
            StatusCode::GATEWAY_TIMEOUT,
            "The model's upstream did not answer in time. Please try again.",
        ),
        Some(_) => OpenAiError::upstream(
            StatusCode::BAD_GATEWAY,
            "The model's upstream failed to answer. Please try again.",
        ),
        None => OpenAiError::upstream(
            StatusCode::SERVICE_UNAVAILABLE,
            "The engine is currently overloaded, please try again later.",
        )
        .with_header("retry-after", "1"),
    }
}
