//! `/v1`: chat completions, completions, embeddings and models, as OpenAI answers them.
//! Every handler answers a response (never an error value), so no platform error renderer
//! reshapes OpenAI's error bodies.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::platform::iam::Principal;
use crate::products::token_factory::gateway::admit::Asked;
use crate::products::token_factory::gateway::answer::Shape;
use crate::products::token_factory::gateway::finish::{Produced, Refused};
use crate::products::token_factory::gateway::relay::relay;
use crate::products::token_factory::gateway::{Gateway, request_id};
use crate::products::token_factory::upstream::{Outgoing, Route};
use crate::products::token_factory::wire::{self, Counted, OpenAiError};
use crate::products::token_factory::{INFERENCE, MODELS_READ, ModelKind, offload, tokens};

/// Registers `/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/chat/completions", web::post().to(chat))
            .route("/completions", web::post().to(completions))
            .route("/embeddings", web::post().to(embeddings))
            .route("/models", web::get().to(models))
            .route("/models/{model:.+}", web::get().to(model))
            .default_service(web::to(unknown)),
    );
}

/// When a request arrived and the id the gateway gave it (`x-request-id` on every answer).
struct Arrival {
    request_id: String,
    started: Instant,
}

impl Arrival {
    fn now() -> Arrival {
        Arrival {
            request_id: request_id(),
            started: Instant::now(),
        }
    }
}

/// The response, or the refusal counted and answered in OpenAI's shape, with the request's id.
fn answer(
    gateway: &Gateway,
    request_id: &str,
    result: Result<HttpResponse, OpenAiError>,
) -> HttpResponse {
    result.unwrap_or_else(|err| {
        gateway.metrics.rejected(err.reason());
        err.error_response_with(request_id)
    })
}

async fn chat(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    serve(gateway.into_inner(), req, payload, Route::Chat).await
}

async fn completions(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    serve(gateway.into_inner(), req, payload, Route::Completions).await
}

async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    serve(gateway.into_inner(), req, payload, Route::Embeddings).await
}

/// Serves an inference route: a refusal after the key is known is recorded in analytics
/// with the model it named.
async fn serve(
    gateway: Arc<Gateway>,
    req: HttpRequest,
    payload: web::Payload,
    route: Route,
) -> HttpResponse {
    let arrival = Arrival::now();
    let principal = match gateway.authenticate(&req, INFERENCE) {
        Ok(principal) => principal,
        Err(err) => return answer(&gateway, &arrival.request_id, Err(err)),
    };
    let who = who_of(&principal);
    let (id, started) = (arrival.request_id.clone(), arrival.started);
    let mut model = String::new();
    let served = match route {
        Route::Embeddings => {
            embed(
                Arc::clone(&gateway),
                arrival,
                principal,
                payload,
                &mut model,
            )
            .await
        }
        _ => {
            generate(
                Arc::clone(&gateway),
                arrival,
                principal,
                payload,
                route,
                &mut model,
            )
            .await
        }
    };
    if let Err(err) = &served {
        gateway.record_refusal(&Refused {
            principal: &who,
            request_id: &id,
            started,
            route,
            model: &model,
            error: err,
        });
    }
    answer(&gateway, &id, served)
}

/// The principal as far as an analytics record needs it.
fn who_of(p: &Principal) -> Principal {
    Principal {
        kind: p.kind,
        id: p.id,
        organization_id: p.organization_id,
        department_id: p.department_id,
        project_id: p.project_id,
        key_prefix: p.key_prefix.clone(),
        scopes: Vec::new(),
        organization_scopes: Vec::new(),
        model_allowlist: None,
    }
}

/// Reads the body, at most `limit` bytes.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<BytesMut, OpenAiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| OpenAiError::unparsable("the body could not be read"))?;
        if body.len() + chunk.len() > limit {
            let mut err = OpenAiError::invalid(
                "",
                None,
                format!("The request body is larger than {limit} bytes."),
            );
            err.status = actix_web::http::StatusCode::PAYLOAD_TOO_LARGE;
            err.param = None;
            return Err(err);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `parse` over `bytes`, where `offload` puts it: a body may be megabytes of JSON, too
/// long to parse on an HTTP worker.
async fn parsed<T: Send + 'static>(
    bytes: BytesMut,
    parse: fn(&[u8]) -> Result<T, OpenAiError>,
) -> Result<T, OpenAiError> {
    let size = bytes.len();
    offload::sized(size, move || parse(&bytes), || Err(OpenAiError::internal())).await
}

async fn generate(
    gateway: Arc<Gateway>,
    arrival: Arrival,
    principal: Principal,
    payload: web::Payload,
    route: Route,
    named: &mut String,
) -> Result<HttpResponse, OpenAiError> {
    let bytes = read_body(payload, gateway.settings.max_request_bytes).await?;
    let received = bytes.len();
    let parse = match route {
        Route::Chat => wire::chat::parse,
        _ => wire::completions::parse,
    };
    let counted: Counted = parsed(bytes, parse).await?;
    named.clone_from(&counted.model);
    let model = gateway.place(&principal, &counted.model, ModelKind::Chat)?;
    let input = tokens::count_all(counted.texts).await + counted.overhead;
    let asked = Asked {
        request_id: arrival.request_id,
        started: arrival.started,
        model: counted.model,
        input,
        output: counted.output,
        input_param: counted.input_param,
        stream: counted.stream,
    };
    let per_choice = gateway.guard(&model, &asked)?;
    let reserved = per_choice.saturating_mul(asked.output.choices.max(1));
    let ticket = gateway.admit(principal, Arc::clone(&model), route, &asked, reserved)?;
    let mut body = counted.body;
    cap_output(&mut body, route, asked.output.asked, per_choice);
    if asked.stream {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let mut body = Outgoing::new(body, received);
    let forwarded = match gateway.forward(&model, route, &mut body).await {
        Ok(forwarded) => forwarded,
        Err(failed) => {
            let produced = Produced {
                endpoint: failed.tried,
                ..Produced::default()
            };
            return Ok(gateway.refused(ticket, produced, failed.error).await);
        }
    };
    if !asked.stream || forwarded.reply.status >= 400 {
        return Ok(gateway
            .answer_whole(ticket, forwarded, Shape::default())
            .await);
    }
    let mut res = HttpResponse::Ok();
    res.content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-request-id", ticket.request_id.as_str()));
    ticket.limits.add_to(&mut res);
    Ok(res.streaming(relay(gateway, ticket, forwarded, counted.include_usage)))
}

/// Bounds the output the upstream may produce to what was reserved.
fn cap_output(body: &mut Map<String, Value>, route: Route, asked: Option<u64>, per_choice: u64) {
    if asked.is_some() {
        return;
    }
    let param = match route {
        Route::Chat => "max_completion_tokens",
        _ => "max_tokens",
    };
    body.insert(param.into(), Value::from(per_choice));
}

async fn embed(
    gateway: Arc<Gateway>,
    arrival: Arrival,
    principal: Principal,
    payload: web::Payload,
    named: &mut String,
) -> Result<HttpResponse, OpenAiError> {
    let bytes = read_body(payload, gateway.settings.max_request_bytes).await?;
    let received = bytes.len();
    let parsed = parsed(bytes, wire::embeddings::parse).await?;
    named.clone_from(&parsed.model);
    let model = gateway.place(&principal, &parsed.model, ModelKind::Embedding)?;
    let counts = tokens::count_each(parsed.texts).await;
    let longest = counts.iter().copied().max().unwrap_or(0);
    if longest > model.context_length {
        return Err(OpenAiError::context_length(
            "input",
            model.context_length,
            longest,
            0,
        ));
    }
    let input = counts.iter().sum::<u64>() + parsed.id_tokens;
    let asked = Asked {
        request_id: arrival.request_id,
        started: arrival.started,
        model: parsed.model,
        input,
        output: wire::Output {
            asked: Some(0),
            param: "dimensions",
            choices: 1,
        },
        input_param: "input",
        stream: false,
    };
    let ticket = gateway.admit(principal, Arc::clone(&model), Route::Embeddings, &asked, 0)?;
    let mut body = parsed.body;
    body.remove("encoding_format");
    let mut body = Outgoing::new(body, received);
    let forwarded = match gateway.forward(&model, Route::Embeddings, &mut body).await {
        Ok(forwarded) => forwarded,
        Err(failed) => {
            let produced = Produced {
                endpoint: failed.tried,
                ..Produced::default()
            };
            return Ok(gateway.refused(ticket, produced, failed.error).await);
        }
    };
    Ok(gateway
        .answer_whole(
            ticket,
            forwarded,
            Shape {
                base64: parsed.base64,
            },
        )
        .await)
}

async fn models(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    answer(&gateway, &request_id(), list_models(&gateway, &req))
}

fn list_models(gateway: &Gateway, req: &HttpRequest) -> Result<HttpResponse, OpenAiError> {
    let principal = gateway.authenticate(req, MODELS_READ)?;
    let book = gateway.book.get();
    let mut ids: Vec<&String> = book
        .models
        .iter()
        .filter(|(_, m)| m.enabled && gateway.may_use(&principal, m))
        .filter(|(id, _)| {
            principal
                .model_allowlist
                .as_ref()
                .is_none_or(|l| l.contains(id))
        })
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    let data: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| book.models.get(id))
        .map(|m| model_object(&m.id, m.created_at))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"object": "list", "data": data})))
}

async fn model(
    req: HttpRequest,
    id: web::Path<String>,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    answer(&gateway, &request_id(), show_model(&gateway, &req, &id))
}

fn show_model(gateway: &Gateway, req: &HttpRequest, id: &str) -> Result<HttpResponse, OpenAiError> {
    let principal = gateway.authenticate(req, MODELS_READ)?;
    let book = gateway.book.get();
    let allowed = principal
        .model_allowlist
        .as_ref()
        .is_none_or(|l| l.iter().any(|m| m == id));
    match book
        .model(id)
        .filter(|m| m.enabled && allowed && gateway.may_use(&principal, m))
    {
        Some(m) => Ok(HttpResponse::Ok().json(model_object(&m.id, m.created_at))),
        None => Err(OpenAiError::model_not_found(id)),
    }
}

fn model_object(id: &str, created: time::OffsetDateTime) -> Value {
    json!({"id": id, "object": "model", "created": wire::unix(created), "owned_by": "token-factory"})
}

async fn unknown(req: HttpRequest) -> HttpResponse {
    let mut err = OpenAiError::invalid(
        "",
        None,
        format!("Invalid URL ({} {})", req.method(), req.path()),
    );
    err.status = actix_web::http::StatusCode::NOT_FOUND;
    err.param = None;
    actix_web::ResponseError::error_response(&err)
}
