//! A response read whole (no stream): its usage noted, its `model` set to the catalog id,
//! embeddings encoded as the client asked, then the request finished before it is sent.

use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpResponse;
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::Value;

use super::finish::Produced;
use super::forward::Forwarded;
use super::{Gateway, Ticket};
use crate::products::token_factory::wire::OpenAiError;
use crate::products::token_factory::wire::embeddings::to_base64;

/// Largest upstream answer read whole.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// How the client wants the answer shaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// Embeddings as base64 strings.
    pub base64: bool,
}

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
        let Ok(mut body) = serde_json::from_slice::<Value>(&bytes) else {
            let err = OpenAiError::upstream(
                actix_web::http::StatusCode::BAD_GATEWAY,
                "The model's upstream answered something that is not JSON.",
            );
            return self.refused(ticket, produced, err).await;
        };
        if status >= 400 {
            return self.upstream_refusal(ticket, produced, status, body).await;
        }
        note(&mut produced, &body);
        shape_body(&mut body, &ticket.model.id, shape);
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
        res.json(body)
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

/// Notes the reported usage and the output text, to count (for when there is none).
fn note(produced: &mut Produced, body: &Value) {
    if let Some(usage) = body.get("usage").filter(|u| u.is_object()) {
        let n = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
        produced.reported = Some((n("prompt_tokens"), n("completion_tokens")));
    }
    let texts = body["choices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.pointer("/message/content")
                .or_else(|| c.get("text"))
                .and_then(Value::as_str)
        });
    produced.output.texts = texts.map(str::to_owned).collect();
}

fn shape_body(body: &mut Value, model: &str, shape: Shape) {
    if let Some(map) = body.as_object_mut() {
        map.insert("model".into(), Value::String(model.to_owned()));
    }
    if !shape.base64 {
        return;
    }
    for item in body["data"].as_array_mut().into_iter().flatten() {
        if let Some(values) = item.get("embedding").and_then(Value::as_array) {
            let encoded = to_base64(values);
            item["embedding"] = Value::String(encoded);
        }
    }
}
