//! Effective snapshots, usage against limits, and decisions for out-of-process products.
//!
//! A decision asked with `hold: true` keeps what it admitted (concurrency and capacity
//! slots) for as long as its response stays open: the answer is the first line of an NDJSON
//! stream, followed by a heartbeat line every half second (a write to a closed
//! connection is how the server learns the caller left). The slot is freed when the caller
//! settles the reservation, when the hold's time runs out, or when the connection drops —
//! whichever comes first.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::super::{
    Admission, Decision, DecisionInput, Decisions, Delta, EffectivePolicy, EffectiveQuery,
    Resource, UsageVsLimit,
};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::input::Json;
use crate::platform::iam::web::guard;
use crate::platform::iam::{Iam, OrganizationId, ProjectId};

/// The longest a held decision stays open.
const MAX_HOLD: Duration = Duration::from_secs(3600);
/// How often a held decision writes a heartbeat line.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// Most dimensions one decision asks for.
const MAX_DELTAS: usize = 16;
/// The most entitlements one decision may name.
const MAX_ENTITLEMENTS: usize = 8;

/// Reservations held open by streaming decisions, by id.
#[derive(Default)]
pub struct Leases {
    open: Arc<LeaseMap>,
}

/// Open reservations by id: who holds each (their audit actor id) and the admission.
type LeaseMap = DashMap<Uuid, (String, Arc<Mutex<Option<Admission>>>)>;

/// Which key or resource.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Narrowing {
    /// A key in the project, by prefix.
    #[param(max_length = 200)]
    api_key: Option<String>,
    /// A resource type of the product (with `resource_id`).
    #[param(max_length = 200)]
    resource_type: Option<String>,
    /// The resource.
    #[param(max_length = 200)]
    resource_id: Option<String>,
}

impl Narrowing {
    fn query(self, organization: String, project: String) -> Result<EffectiveQuery, ApiError> {
        let resource = match (self.resource_type, self.resource_id) {
            (Some(resource_type), Some(id)) => Some(Resource { resource_type, id }),
            (None, None) => None,
            _ => {
                return Err(ApiError::Invalid {
                    field: "resource_id".into(),
                    reason: "give both resource_type and resource_id, or neither".into(),
                });
            }
        };
        Ok(EffectiveQuery {
            organization,
            project,
            api_key: self.api_key,
            resource,
        })
    }
}

/// A project's effective policy (or one key's, or for one resource): every dimension's
/// ceiling, the scope it came from and every value considered. Needs `platform.policy.read`.
#[utoipa::path(params(Narrowing), tag = "policy", responses((status = 200, body = EffectivePolicy), (status = 404, body = Problem)))]
#[get("/orgs/{org}/projects/{project}/effective")]
async fn effective(
    iam: web::Data<Iam>,
    decisions: web::Data<dyn Decisions>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    narrowing: web::Query<Narrowing>,
) -> Result<web::Json<EffectivePolicy>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let (org, project) = path.into_inner();
    let query = narrowing.into_inner().query(org, project)?;
    Ok(web::Json(decisions.effective(&caller, query).await?))
}

/// Each dimension's use against its ceiling in a project (this server process's counters).
#[utoipa::path(params(Narrowing), tag = "policy", responses((status = 200, body = Vec<UsageVsLimit>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/projects/{project}/usage")]
async fn usage(
    iam: web::Data<Iam>,
    decisions: web::Data<dyn Decisions>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    narrowing: web::Query<Narrowing>,
) -> Result<web::Json<Vec<UsageVsLimit>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let (org, project) = path.into_inner();
    let query = narrowing.into_inner().query(org, project)?;
    Ok(web::Json(decisions.usage(&caller, query).await?))
}

/// What to decide.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Organization id.
    organization_id: Uuid,
    /// Project id (in the organization).
    project_id: Uuid,
    /// The user or service account acting.
    principal_id: Option<Uuid>,
    /// The API key acting, by prefix.
    #[schema(max_length = 200)]
    api_key: Option<String>,
    /// The product (registry id) whose dimensions are asked for.
    #[schema(max_length = 100)]
    product: String,
    /// The resource acted on.
    resource: Option<Resource>,
    /// The action, for the record.
    #[schema(max_length = 200)]
    action: Option<String>,
    /// Amounts per dimension (1 to 16).
    deltas: Vec<Delta>,
    /// Entitlements (registry ids, at most 8) the project must hold.
    #[serde(default)]
    entitlements: Vec<String>,
    /// Keep the admission (concurrency, capacity) while the response stays open.
    #[serde(default)]
    hold: bool,
    /// Seconds to hold at most (1 to 3600, default 600).
    hold_secs: Option<u64>,
}

/// A decision, with the reservation to settle when it holds one.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionAnswer {
    /// The decision.
    #[serde(flatten)]
    decision: Decision,
    /// For `hold`: what to settle.
    reservation_id: Option<Uuid>,
}

/// Decides for a principal. Needs `platform.decisions.check` in the project. Without
/// `hold` the admission is settled at once at its estimate (concurrency is not kept).
#[utoipa::path(tag = "policy", request_body = DecisionBody, responses((status = 200, body = DecisionAnswer), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/decisions")]
async fn decide(
    iam: web::Data<Iam>,
    decisions: web::Data<dyn Decisions>,
    leases: web::Data<Leases>,
    req: HttpRequest,
    body: Json<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let body = body.into_inner();
    if body.deltas.is_empty() || body.deltas.len() > MAX_DELTAS {
        return Err(ApiError::Invalid {
            field: "deltas".into(),
            reason: format!("must hold 1 to {MAX_DELTAS}"),
        });
    }
    if body.entitlements.len() > MAX_ENTITLEMENTS
        || body
            .entitlements
            .iter()
            .any(|e| e.is_empty() || e.len() > 200 || e.chars().any(char::is_control))
    {
        return Err(ApiError::Invalid {
            field: "entitlements".into(),
            reason: format!(
                "must hold at most {MAX_ENTITLEMENTS} ids of 1 to 200 bytes, without control characters"
            ),
        });
    }
    let hold = Duration::from_secs(body.hold_secs.unwrap_or(600));
    if !(Duration::from_secs(1)..=MAX_HOLD).contains(&hold) {
        return Err(ApiError::Invalid {
            field: "hold_secs".into(),
            reason: "must be 1 to 3600".into(),
        });
    }
    let input = DecisionInput {
        organization: OrganizationId(body.organization_id),
        project: ProjectId(body.project_id),
        principal: body.principal_id,
        api_key: body.api_key,
        product: body.product,
        resource: body.resource,
        action: body.action,
        deltas: body.deltas,
        entitlements: body.entitlements.into_iter().map(Into::into).collect(),
    };
    let (decision, admission) = decisions.decide_for(&caller, input).await?;
    match (body.hold, admission) {
        (true, Some(admission)) => Ok(held(&leases, caller.actor().id, decision, admission, hold)),
        _ => Ok(HttpResponse::Ok().json(DecisionAnswer {
            decision,
            reservation_id: None,
        })),
    }
}

/// The streaming answer that keeps `admission` while it is open.
fn held(
    leases: &Leases,
    holder: String,
    decision: Decision,
    admission: Admission,
    hold: Duration,
) -> HttpResponse {
    let id = Uuid::now_v7();
    let slot = Arc::new(Mutex::new(Some(admission)));
    leases.open.insert(id, (holder, Arc::clone(&slot)));
    let first = serde_json::to_string(&DecisionAnswer {
        decision,
        reservation_id: Some(id),
    })
    .unwrap_or_default();
    let lease = Lease {
        id,
        slot,
        open: Arc::clone(&leases.open),
    };
    let deadline = tokio::time::Instant::now() + hold;
    let body =
        futures_util::stream::unfold((Some(first), lease), move |(first, lease)| async move {
            if let Some(line) = first {
                return Some((
                    Ok::<_, actix_web::Error>(web::Bytes::from(line + "\n")),
                    (None, lease),
                ));
            }
            tokio::time::sleep(HEARTBEAT).await;
            let settled = lease.slot.lock().map_or(true, |s| s.is_none());
            match settled || tokio::time::Instant::now() >= deadline {
                true => None,
                false => Some((Ok(web::Bytes::from_static(b"\n")), (None, lease))),
            }
        });
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(("cache-control", "no-store"))
        .streaming(body)
}

/// A held admission; dropping it (the stream ended or the client went away) frees it.
struct Lease {
    id: Uuid,
    slot: Arc<Mutex<Option<Admission>>>,
    open: Arc<LeaseMap>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.open.remove(&self.id);
        if let Ok(mut slot) = self.slot.lock() {
            slot.take();
        }
    }
}

/// What was actually used.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    /// Actual amounts per dimension; dimensions left out keep their estimate.
    actual: Vec<Delta>,
}

/// Settles a held reservation with what was used and frees what it holds.
#[utoipa::path(tag = "policy", request_body = SettleBody, responses((status = 204), (status = 404, body = Problem)))]
#[post("/reservations/{id}/settle")]
async fn settle(
    iam: web::Data<Iam>,
    leases: web::Data<Leases>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: Json<SettleBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let body = body.into_inner();
    if body.actual.len() > MAX_DELTAS {
        return Err(ApiError::Invalid {
            field: "actual".into(),
            reason: format!("at most {MAX_DELTAS}"),
        });
    }
    let not_found = || ApiError::NotFound("no open reservation with that id".into());
    let id = id.into_inner();
    let holder = caller.actor().id;
    // Only whoever holds a reservation may settle it; anyone else is told it does not exist.
    let slot = leases
        .open
        .remove_if(&id, |_, (owner, _)| *owner == holder)
        .map(|(_, (_, slot))| slot)
        .ok_or_else(not_found)?;
    let taken = slot.lock().ok().and_then(|mut s| s.take());
    let mut admission = taken.ok_or_else(not_found)?;
    admission.correct(&body.actual);
    Ok(HttpResponse::NoContent().finish())
}
