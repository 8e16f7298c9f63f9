//! Portal pages: the audit log with filters, an event's detail, and the chain badge.

use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use uuid::Uuid;

use super::Audit;
use super::api::EventQuery;
use super::cli::render_report;
use super::{ActorKind, AuditEvent, VerifyReport, chain};
use crate::kit::error::ApiError;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::web::session::SignedIn;
use crate::platform::iam::{Authors, Iam};

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
    /// What the Actor filter takes to list this actor's events.
    actor_id: String,
    result: &'static str,
}

impl Row {
    fn of(e: &AuditEvent, authors: &Authors) -> Row {
        Row {
            seq: e.seq,
            id: e.id,
            at: chain::timestamp(e.occurred_at)[..19].replace('T', " "),
            action: e.action.clone(),
            target: format!("{}:{}", e.target_type, e.target_id),
            actor: actor_text(e, authors),
            actor_id: e.actor.id.clone(),
            result: e.result.as_str(),
        }
    }
}

/// The users among `events`' actors, named by IAM.
async fn authors_of(iam: &Iam, events: &[AuditEvent]) -> Result<Authors, ApiError> {
    let users = events
        .iter()
        .filter(|e| e.actor.kind == ActorKind::User)
        .map(|e| e.actor.id.as_str());
    Authors::of(iam.people.as_ref(), users).await
}

/// `kind:who`, a user by email and any other actor as recorded.
fn actor_text(e: &AuditEvent, authors: &Authors) -> String {
    let who = match e.actor.kind {
        ActorKind::User => authors.name(&e.actor.id),
        _ => e.actor.id.clone(),
    };
    format!("{}:{who}", e.actor.kind.as_str())
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
        href(&pairs)
    }

    /// The log of `actor_id`'s events alone.
    fn actor_href(&self, actor_id: &str) -> String {
        href(&[("actor", actor_id)])
    }
}

/// `/audit` with the non-empty `pairs` as its query string.
fn href(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(key, value);
    }
    format!("/audit?{}", query.finish())
}

#[get("/audit")]
async fn log_page(
    _signed: SignedIn,
    audit: web::Data<dyn Audit>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let (rows, next, error) = match query.filter() {
        Ok(filter) => {
            let page = audit.query(filter).await?;
            let authors = authors_of(&iam, &page.events).await?;
            (
                page.events.iter().map(|e| Row::of(e, &authors)).collect(),
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
    actor: String,
    at: String,
    details: String,
}

#[get("/audit/events/{id}")]
async fn event_page(
    _signed: SignedIn,
    audit: web::Data<dyn Audit>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let event = audit.event(id.into_inner()).await?;
    let authors = authors_of(&iam, std::slice::from_ref(&event)).await?;
    render(&EventPage {
        layout: Layout::page(&format!("Audit event {}", event.seq), AREA, &req),
        actor: actor_text(&event, &authors),
        at: chain::timestamp(event.occurred_at),
        details: serde_json::to_string_pretty(&event.details).unwrap_or_default(),
        event,
    })
}
