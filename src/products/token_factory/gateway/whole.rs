//! A response read whole (no stream): read for the client (`answer`), then the request
//! finished before it is sent.

use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpResponse;
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::Value;

use super::answer::{self, Answer, Shape};
use super::finish::Produced;
use super::forward::Forwarded;
use super::{Gateway, Ticket};
use crate::products::token_factory::wire::OpenAiError;

/// Largest upstream answer read whole.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

impl Gateway {
    /// Reads the upstream's whole answer, finishes the request, and answers the client.
    pub async fn answer_whole(
        self: &Arc<Self>,
        ticket: Ticket,
        mut forwarded: Forwarded,
        shape: Shape,
    ) -> HttpResponse {
        let mut produced = Produced {
            endpoint: Some(forwarded.served_by()),
            upstream_time: forwarded.waited,
            ..Produced::default()
        };
        let began = Instant::now();
        let read = read_all(&mut forwarded).await;
        produced.upstream_time += began.elapsed();
        drop(forwarded.slot);
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(err) => return self.refused(ticket, produced, err).await,
        };
        let status = forwarded.reply.status;
        let body = match answer::read(bytes, status, &ticket.model.id, shape).await {
            Answer::Served {
                body,
                reported,
                output,
            } => {
                (produced.reported, produced.output) = (reported, output);
                body
            }
            Answer::Refused(body) => {
                return self.upstream_refusal(ticket, produced, status, body).await;
            }
            Answer::NotJson => {
                let err = OpenAiError::upstream(
                    actix_web::http::StatusCode::BAD_GATEWAY,
                    "The model's upstream answered something that is not JSON.",
                );
                return self.refused(ticket, produced, err).await;
            }
        };
        produced.billable = true;
        produced.status = 200;
        let limits = ticket.limits.clone();
        let request_id = ticket.request_id.clone();
        let before = self.commits_before_response();
        if before {
            if let Err(err) = self.finish(ticket, produced).await {
                return err.error_response_with(&request_id);
            }
        } else {
            self.finish_later(ticket, produced).await;
        }
        let mut res = HttpResponse::Ok();
        limits.add_to(&mut res);
        res.insert_header(("x-request-id", request_id.as_str()));
        res.content_type("application/json").body(body)
    }

    /// Ends a request nothing was produced for, answering `err`.
    pub async fn refused(
        &self,
        ticket: Ticket,
        mut produced: Produced,
        err: OpenAiError,
    ) -> HttpResponse {
        let request_id = ticket.request_id.clone();
        produced.billable = false;
        produced.status = err.status.as_u16();
        produced.error_code = Some(err.reason());
        let _ = self.finish(ticket, produced).await;
        err.error_response_with(&request_id)
    }

    /// The upstream refused the request (a 4xx of its own): passed on, nothing billed.
    async fn upstream_refusal(
        &self,
        ticket: Ticket,
        produced: Produced,
        status: u16,
        body: Value,
    ) -> HttpResponse {
        let error = &body["error"];
        let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut err = OpenAiError::invalid(
            "",
            None,
            text("message").unwrap_or_else(|| "The model's upstream refused the request.".into()),
        );
        err.status = actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
        err.param = text("param");
        err.code = None;
        self.refused(ticket, produced, err).await
    }
}

async fn read_all(forwarded: &mut Forwarded) -> Result<BytesMut, OpenAiError> {
    let timeout = forwarded.endpoint.timeout;
    let mut bytes = BytesMut::new();
    let broke = || {
        OpenAiError::upstream(
            actix_web::http::StatusCode::BAD_GATEWAY,
            "The model's upstream connection broke.",
        )
    };
    loop {
        match tokio::time::timeout(timeout, forwarded.reply.body.next()).await {
            Err(_) => {
                return Err(OpenAiError::upstream(
                    actix_web::http::StatusCode::GATEWAY_TIMEOUT,
                    "The model's upstream did not answer in time. Please try again.",
                ));
            }
            Ok(None) => return Ok(bytes),
            Ok(Some(Err(_))) => return Err(broke()),
            Ok(Some(Ok(chunk))) if bytes.len() + chunk.len() > MAX_REPLY_BYTES => {
                return Err(broke());
            }
            Ok(Some(Ok(chunk))) => bytes.extend_from_slice(&chunk),
        }
    }
}
