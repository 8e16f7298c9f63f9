//! Turns every error response into RFC 9457 problem+json (or, for a browser on a portal
//! path, the portal's error page), and configures body extractors to fail that way too.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::kit::error::{ApiError, Problem};
use crate::kit::http::request_id;

pub use crate::kit::error::PROBLEM_JSON;

/// Middleware that renders every 4xx/5xx response no handler gave a body of its own.
pub fn error_handlers<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(render)
}

fn render<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let Some(problem) = describe(&res) else {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    };
    let (req, _) = res.into_parts();
    let response = respond(&req, &problem);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body::<B>(),
    ))
}

/// The problem to show for `res`, or `None` when the handler already chose a body
/// (a portal form re-rendered with a 422, say).
fn describe<B>(res: &ServiceResponse<B>) -> Option<Problem> {
    let req = res.request();
    let instance = Some(req.path().to_owned());
    let id = request_id::of(req);
    let status = res.status();
    match res.response().error() {
        Some(err) => match err.as_error::<ApiError>() {
            Some(api) => {
                if let ApiError::Internal(cause) = api {
                    log::error!("request {} failed: {cause}", id.as_deref().unwrap_or("-"));
                }
                Some(api.to_problem(instance, id))
            }
            None => Some(from_foreign(status, &err.to_string(), instance, id)),
        },
        None if !res.headers().contains_key(header::CONTENT_TYPE) => {
            Some(ApiError::from_status(status).to_problem(instance, id))
        }
        None => None,
    }
}

/// actix's own errors (path or query parse failures, payload errors): their 4xx messages
/// are safe to pass on; 5xx messages are not.
fn from_foreign(
    status: actix_web::http::StatusCode,
    message: &str,
    instance: Option<String>,
    id: Option<String>,
) -> Problem {
    let mut problem = ApiError::from_status(status).to_problem(instance, id.clone());
    if status.is_client_error() && status.as_u16() != 404 && status.as_u16() != 405 {
        problem.detail = message.to_owned();
    }
    if status.is_server_error() {
        log::error!("request {} failed: {message}", id.as_deref().unwrap_or("-"));
    }
    problem
}

fn respond(req: &HttpRequest, problem: &Problem) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(problem.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    if wants_html(req) {
        return builder
            .content_type("text/html; charset=utf-8")
            .body(crate::kit::portal::error_page(problem));
    }
    builder.content_type(PROBLEM_JSON).json(problem)
}

/// A browser asking for a portal page gets HTML; API clients always get problem+json.
fn wants_html(req: &HttpRequest) -> bool {
    let path = req.path();
    let api = path.starts_with("/api/") || path.starts_with("/v1/");
    let accepts_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    !api && accepts_html
}

/// JSON extractor settings: size limit and problem responses for each way a body can fail.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

/// Limit for raw body extractors (`Bytes`, `String`).
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge { limit }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "expected a JSON body with Content-Type: application/json".into(),
        ),
        JsonPayloadError::Deserialize(err) if err.is_data() => ApiError::Invalid {
            field: "body".into(),
            reason: err.to_string(),
        },
        JsonPayloadError::Deserialize(err) => {
            ApiError::MalformedBody(format!("malformed JSON: {err}"))
        }
        other => ApiError::MalformedBody(other.to_string()),
    }
}

/// The app's default service: 405 when the path names a route that takes other methods
/// (route macros guard on the method, so such requests fall through to here), else 404.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // The path as the router matched it (percent-decoded), like the portal's gate.
    if req.resource_map().has_resource(req.match_info().as_str()) {
        Err(ApiError::MethodNotAllowed)
    } else {
        Err(ApiError::NotFound(format!("no resource at {}", req.path())))
    }
}
