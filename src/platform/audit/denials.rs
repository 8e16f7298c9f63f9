//! Denied attempts leave a trace: every 403 the server answers, on any route of any module,
//! is appended as `platform.access.denied` with who tried (the `Actor` the request guard or
//! the portal gate put in the request's extensions), the route and method, and why.
//! Not-found answers are not recorded: to a caller they are indistinguishable from a
//! resource that does not exist, which is the point of answering them.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use super::{Actor, Audit, AuditResult, NewEvent};

const DENIED: &str = "platform.access.denied";

/// Middleware: records each 403 after the inner services answered it. The audit handle is
/// the app data `web::Data<dyn Audit>`; without it nothing is recorded.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let audit = req.app_data::<web::Data<dyn Audit>>().cloned();
    let res = next.call(req).await?;
    if res.status() == actix_web::http::StatusCode::FORBIDDEN
        && let Some(audit) = audit
    {
        let event = denial(&res);
        if let Err(err) = audit.append(event).await {
            log::warn!("a denied request could not be audited: {err}");
        }
    }
    Ok(res)
}

fn denial<B>(res: &ServiceResponse<B>) -> NewEvent {
    let req = res.request();
    let actor = req
        .extensions()
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(|| Actor::system("anonymous"));
    let route = req.match_pattern().unwrap_or_else(|| "(no route)".into());
    let mut event = NewEvent::new(actor, DENIED, "route", &format!("{} {route}", req.method()));
    event.result = AuditResult::Denied;
    event.reason = res.response().error().map(|e| e.to_string());
    event
}
