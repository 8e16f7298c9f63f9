//! `/api/v1/audit`: events with filters and cursor pagination, verification, digests and
//! the public key for offline checks.

use actix_web::{HttpRequest, get, web};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::Audit;
use super::{AuditEvent, AuditResult, DigestRecord, EventFilter, Page, PublicKey, VerifyReport};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{self, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;
use crate::platform::iam::{Caller, Target};

/// Scope of the platform's packet for reading audit events.
const AUDIT_READ: &str = "platform.audit.read";

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/audit")
            .service(list_events)
            .service(show_event)
            .service(verify)
            .service(list_digests)
            .service(public_key),
    );
}

/// Filters for listing events (all optional).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Organization id.
    pub organization_id: Option<Uuid>,
    /// Project id.
    pub project_id: Option<Uuid>,
    /// Actor id.
    pub actor: Option<String>,
    /// Audit action id.
    pub action: Option<String>,
    /// Target type.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// success, denied or failed.
    pub result: Option<String>,
    /// Occurred at or after (RFC 3339).
    pub from: Option<String>,
    /// Occurred before (RFC 3339).
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 20)]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

fn time_param(field: &str, value: Option<&String>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).map_err(|_| {
                ApiError::Invalid {
                    field: field.into(),
                    reason: format!("`{v}` is not an RFC 3339 time like 2026-11-28T12:00:00Z"),
                }
            })
        })
        .transpose()
}

impl EventQuery {
    /// The filter this query asks for; says which parameter is malformed.
    pub fn filter(&self) -> Result<EventFilter, ApiError> {
        let result = match self.result.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(AuditResult::parse(r).ok_or_else(|| ApiError::Invalid {
                field: "result".into(),
                reason: format!("`{r}` is not one of success, denied, failed"),
            })?),
        };
        let before_seq =
            match self.cursor.as_deref().filter(|c| !c.is_empty()) {
                None => None,
                Some(c) => Some(c.parse::<i64>().ok().filter(|_| c.len() <= 20).ok_or_else(
                    || ApiError::Invalid {
                        field: "cursor".into(),
                        reason: "not a cursor this API returned".into(),
                    },
                )?),
            };
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::Invalid {
                field: "limit".into(),
                reason: "must be between 1 and 500".into(),
            });
        }
        let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(EventFilter {
            organization_id: self.organization_id,
            project_id: self.project_id,
            actor_id: text(&self.actor),
            action: text(&self.action),
            target_type: text(&self.target_type),
            target_id: text(&self.target_id),
            result,
            from: time_param("from", self.from.as_ref())?,
            to: time_param("to", self.to.as_ref())?,
            before_seq,
            limit,
        })
    }
}

/// Audit events, newest first. Tenants see only events of an organization where they
/// hold `platform.audit.read`; platform-wide readers see everything.
#[utoipa::path(tag = "audit", params(EventQuery), responses((status = 200, body = Page), (status = 422, body = Problem), (status = 403, body = Problem)))]
#[get("/events")]
async fn list_events(
    audit: web::Data<dyn Audit>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    query: web::Query<EventQuery>,
) -> Result<web::Json<Page>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let mut filter = query.filter()?;
    if !guard::holds_platform_wide(&iam, &caller, AUDIT_READ).await? {
        let own = match &caller {
            Caller::Key(principal) => Some(principal.organization_id),
            _ => None,
        };
        let org = filter.organization_id.or(own).ok_or_else(|| ApiError::Invalid {
            field: "organization_id".into(),
            reason: "give the organization whose events you want: you may read your own organizations' events only".into(),
        })?;
        // Held in the organization, or in the one project asked for (a project admin).
        match (
            guard::organization_by_id(&iam, &caller, AUDIT_READ, org).await,
            filter.project_id,
        ) {
            (Ok(_), _) => {}
            (Err(ApiError::Forbidden(_)), Some(project)) => {
                guard::project_by_id(&iam, &caller, AUDIT_READ, (org, project)).await?;
            }
            (Err(denied), _) => return Err(denied),
        }
        filter.organization_id = Some(org);
    }
    Ok(web::Json(audit.query(filter).await?))
}

/// One event.
#[utoipa::path(tag = "audit", responses((status = 200, body = AuditEvent), (status = 404, body = Problem)))]
#[get("/events/{id}")]
async fn show_event(
    audit: web::Data<dyn Audit>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<web::Json<AuditEvent>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let id = id.into_inner();
    let event = audit.event(id).await?;
    if !guard::holds_platform_wide(&iam, &caller, AUDIT_READ).await? {
        let hidden = || ApiError::NotFound(format!("no audit event {id}"));
        let org = event.organization_id.ok_or_else(hidden)?;
        guard::organization_by_id(&iam, &caller, AUDIT_READ, org)
            .await
            .map_err(|_| hidden())?;
    }
    Ok(web::Json(event))
}

/// Where verification starts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct VerifyQuery {
    /// First seq to check (default 1).
    from: Option<i64>,
}

/// Recomputes the chain and checks the digests; reports the first break.
#[utoipa::path(tag = "audit", params(VerifyQuery), responses((status = 200, body = VerifyReport)))]
#[get("/verify")]
async fn verify(
    audit: web::Data<dyn Audit>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    query: web::Query<VerifyQuery>,
) -> Result<web::Json<VerifyReport>, ApiError> {
    guard::authorize(&iam, &req, AUDIT_READ, Target::Platform).await?;
    Ok(web::Json(audit.verify(query.from).await?))
}

/// Signed digests, oldest first.
#[utoipa::path(params(PageQuery), tag = "audit", responses((status = 200, body = paging::Page<DigestRecord>)))]
#[get("/digests")]
async fn list_digests(
    audit: web::Data<dyn Audit>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<paging::Page<DigestRecord>>, ApiError> {
    guard::authorize(&iam, &req, AUDIT_READ, Target::Platform).await?;
    Ok(web::Json(page.page(audit.digests().await?, |d| {
        format!("{:020}", d.number)
    })?))
}

/// The Ed25519 key digests verify with; 404 when none is configured.
#[utoipa::path(tag = "audit", responses((status = 200, body = PublicKey), (status = 404, body = Problem)))]
#[get("/public-key")]
async fn public_key(audit: web::Data<dyn Audit>) -> Result<web::Json<PublicKey>, ApiError> {
    audit
        .public_key()
        .map(web::Json)
        .ok_or_else(|| ApiError::NotFound("no audit signing key is configured".into()))
}
