//! Portal pages: the audit log with filters, an event's detail, and the chain badge.

use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use uuid::Uuid;

use super::Audit;
use super::api::EventQuery;
use super::cli::render_report;
use super::{AuditEvent, VerifyReport, chain};
use crate::kit::error::ApiError;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::web::session::SignedIn;

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(log_page)
        .service(verify_page)
        .service(event_page);
}

const AREA: Option<&str> = Some("audit");

/// One row of the log.
struct Row {
    seq: i64,
    id: Uuid,
    at: String,
    action: String,
    target: String,
    actor: String,
    result: &'static str,
}

impl From<&AuditEvent> for Row {
    fn from(e: &AuditEvent) -> Row {
        Row {
            seq: e.seq,
            id: e.id,
            at: chain::timestamp(e.occurred_at)[..19].replace('T', " "),
            action: e.action.clone(),
            target: format!("{}:{}", e.target_type, e.target_id),
            actor: format!("{}:{}", e.actor.kind.as_str(), e.actor.id),
            result: e.result.as_str(),
        }
    }
}

/// The chain badge: what the last verification found.
struct Badge {
    ok: bool,
    text: String,
}

fn badge(report: Option<VerifyReport>) -> Option<Badge> {
    report.map(|r| Badge {
        ok: r.ok,
        text: match r.ok {
            true => format!(
                "verified through seq {} at {} UTC",
                r.verified_through,
                &chain::timestamp(r.verified_at)[..19].replace('T', " ")
            ),
            false => render_report(&r),
        },
    })
}

#[derive(Template)]
#[template(path = "audit/log.html")]
struct LogPage {
    layout: Layout,
    badge: Option<Badge>,
    rows: Vec<Row>,
    query: EventQuery,
    next: Option<String>,
    error: Option<String>,
}

impl LogPage {
    fn value(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }

    /// The current filters with `cursor` replaced, as a query string.
    fn next_href(&self, cursor: &str) -> String {
        let q = &self.query;
        let pairs = [
            ("action", Self::value(&q.action)),
            ("actor", Self::value(&q.actor)),
            ("target_type", Self::value(&q.target_type)),
            ("target_id", Self::value(&q.target_id)),
            ("result", Self::value(&q.result)),
            ("cursor", cursor),
        ];
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", v.replace('&', "%26").replace(' ', "%20")))
            .collect();
        format!("/audit?{}", query.join("&"))
    }
}

#[get("/audit")]
async fn log_page(
    _signed: SignedIn,
    audit: web::Data<dyn Audit>,
    req: HttpRequest,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let (rows, next, error) = match query.filter() {
        Ok(filter) => {
            let page = audit.query(filter).await?;
            (
                page.events.iter().map(Row::from).collect(),
                page.next_cursor,
                None,
            )
        }
        Err(err) => (Vec::new(), None, Some(err.to_string())),
    };
    render(&LogPage {
        layout: Layout::page("Audit log", AREA, &req),
        badge: badge(audit.last_verification()),
        rows,
        query,
        next,
        error,
    })
}

#[get("/audit/verify")]
async fn verify_page(
    _signed: SignedIn,
    audit: web::Data<dyn Audit>,
) -> Result<HttpResponse, ApiError> {
    audit.verify(None).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/audit"))
        .finish())
}

#[derive(Template)]
#[template(path = "audit/event.html")]
struct EventPage {
    layout: Layout,
    event: AuditEvent,
    at: String,
    details: String,
}

#[get("/audit/events/{id}")]
async fn event_page(
    _signed: SignedIn,
    audit: web::Data<dyn Audit>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let event = audit.event(id.into_inner()).await?;
    render(&EventPage {
        layout: Layout::page(&format!("Audit event {}", event.seq), AREA, &req),
        at: chain::timestamp(event.occurred_at),
        details: serde_json::to_string_pretty(&event.details).unwrap_or_default(),
        event,
    })
}
