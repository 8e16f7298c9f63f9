//! Portal pages: `/policy` (the plans, and the organizations the caller can open) and
//! `/policy/{org}` (its plan assignments, its overrides live and past, each project's use
//! against its limits and standing of each entitlement, and the forms that set a project's
//! override or an entitlement setting and clear one). Every
//! read and change authorizes through policy's traits, so a tenant sees only its own
//! organizations; the forms show to whoever holds `platform.policy.write` there.

mod entitlements;
mod rows;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use self::entitlements::{EntitlementForm, SettingRow, StandingRow};
use self::rows::{AssignmentRow, OverrideRow, PlanRow, ProjectUsage};
use super::{
    Decisions, EffectiveQuery, Entitlements, Level, NewOverride, Overrides, POLICY_READ,
    POLICY_WRITE, Plans, Value,
};
use crate::kit::error::ApiError;
use crate::kit::http::input::Form;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::Authors;
use crate::platform::iam::web::session::{self, SignedIn};
use crate::platform::iam::{Caller, Iam, Organization, Target};

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(org_page)
        .service(set_override)
        .service(clear_override)
        .service(entitlements::set_entitlement)
        .service(entitlements::clear_entitlement);
}

/// Most plans and overrides a page lists.
const SHOWN: usize = 200;

fn layout(req: &HttpRequest, title: &str) -> Layout {
    Layout::page(title, Some("policy"), req)
}

#[derive(Template)]
#[template(path = "policy/home.html")]
struct HomePage {
    layout: Layout,
    plans: Option<Vec<PlanRow>>,
    organizations: Vec<Organization>,
}

#[get("/policy")]
async fn home(
    signed: SignedIn,
    iam: web::Data<Iam>,
    plans: web::Data<dyn Plans>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let caller = signed.caller();
    let organizations = iam.access.visible_organizations(&caller).await?;
    let plans = match signed.require(POLICY_READ) {
        Err(_) => None,
        Ok(()) => {
            let latest = plans.plans(&caller, None, SHOWN).await?;
            Some(latest.iter().map(PlanRow::from).collect())
        }
    };
    render(&HomePage {
        layout: layout(&req, "Policy"),
        plans,
        organizations,
    })
}

#[derive(Template)]
#[template(path = "policy/org.html")]
struct OrgPage {
    layout: Layout,
    slug: String,
    assignments: Vec<AssignmentRow>,
    overrides: Vec<OverrideRow>,
    projects: Vec<ProjectUsage>,
    dimensions: Vec<String>,
    standings: Vec<StandingRow>,
    settings: Vec<SettingRow>,
    /// The entitlements the form offers.
    entitlement_ids: Vec<String>,
    can_write: bool,
    /// Platform-wide write: may clear what operators imposed.
    operator: bool,
    error: Option<String>,
    form: OverrideForm,
    entitlement_error: Option<String>,
    entitlement_form: EntitlementForm,
}

/// The forms as the page shows them: empty, or one sent back with what was wrong.
#[derive(Default)]
struct Forms {
    override_form: OverrideForm,
    override_error: Option<String>,
    entitlement_form: EntitlementForm,
    entitlement_error: Option<String>,
}

/// What the organization page reads from.
struct Sources {
    iam: web::Data<Iam>,
    plans: web::Data<dyn Plans>,
    overrides: web::Data<dyn Overrides>,
    entitlements: web::Data<dyn Entitlements>,
    decisions: web::Data<dyn Decisions>,
}

impl actix_web::FromRequest for Sources {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Sources, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Sources::of(req))
    }
}

impl Sources {
    /// The modules the application registered.
    fn of(req: &HttpRequest) -> Result<Sources, ApiError> {
        let missing = || ApiError::Internal("policy pages: a module is not registered".into());
        Ok(Sources {
            iam: req
                .app_data::<web::Data<Iam>>()
                .cloned()
                .ok_or_else(missing)?,
            plans: req.app_data().cloned().ok_or_else(missing)?,
            overrides: req.app_data().cloned().ok_or_else(missing)?,
            entitlements: req.app_data().cloned().ok_or_else(missing)?,
            decisions: req.app_data().cloned().ok_or_else(missing)?,
        })
    }

    /// The page for `org`, with `forms` as they were sent (and what was wrong) or empty.
    async fn page(
        &self,
        signed: &SignedIn,
        req: &HttpRequest,
        org: &str,
        forms: Forms,
    ) -> Result<OrgPage, ApiError> {
        let caller = signed.caller();
        // Policy authorizes the organization first: tenancy's project list asks no caller.
        let assignments = self.plans.assignments(&caller, org).await?;
        let found = self.overrides.overrides(&caller, Some(org), None, SHOWN);
        let found = found.await?;
        let projects = self.iam.tenancy.projects(org).await?;
        let mut usage = Vec::with_capacity(projects.len());
        for project in &projects {
            usage.push(ProjectUsage::new(
                project,
                self.usage(&caller, org, &project.slug).await?,
            ));
        }
        let mut dimensions: Vec<String> = usage
            .iter()
            .flat_map(|p| p.bars.iter().map(|b| b.dimension.clone()))
            .collect();
        dimensions.sort();
        dimensions.dedup();
        let operator = signed.require(POLICY_WRITE).is_ok();
        let standings = self.standings(&caller, org, &projects).await?;
        let mut entitlement_ids: Vec<String> =
            standings.iter().map(|s| s.entitlement.clone()).collect();
        entitlement_ids.sort();
        entitlement_ids.dedup();
        let settings = (self.entitlements)
            .entitlement_settings(&caller, Some(org), None, SHOWN)
            .await?;
        let authors = (assignments.iter().map(|a| a.created_by.as_str()))
            .chain(found.iter().map(|o| o.author.as_str()))
            .chain(settings.iter().map(|s| s.author.as_str()));
        let authors = Authors::of(self.iam.people.as_ref(), authors).await?;
        Ok(OrgPage {
            layout: layout(req, &format!("Policy · {org}")),
            slug: org.to_owned(),
            assignments: (assignments.iter())
                .map(|a| AssignmentRow::new(a, &authors))
                .collect(),
            overrides: (found.iter())
                .map(|o| OverrideRow::new(o, &projects, &authors))
                .collect(),
            projects: usage,
            dimensions,
            standings,
            settings: (settings.iter())
                .map(|s| SettingRow::new(s, &projects, &authors, operator))
                .collect(),
            entitlement_ids,
            can_write: self.may_write(signed, &caller, org).await,
            operator,
            error: forms.override_error,
            form: forms.override_form,
            entitlement_error: forms.entitlement_error,
            entitlement_form: forms.entitlement_form,
        })
    }

    /// Each project's standing of every entitlement, from its effective policy.
    async fn standings(
        &self,
        caller: &Caller,
        org: &str,
        projects: &[crate::platform::iam::Project],
    ) -> Result<Vec<StandingRow>, ApiError> {
        let mut rows = Vec::new();
        for project in projects {
            let query = EffectiveQuery {
                organization: org.to_owned(),
                project: project.slug.clone(),
                api_key: None,
                resource: None,
            };
            let effective = self.decisions.effective(caller, query).await?;
            rows.extend(StandingRow::all(project, &effective.entitlements));
        }
        Ok(rows)
    }

    /// Whether to offer the forms: `platform.policy.write` across the platform or in `org`
    /// (policy still authorizes every submission).
    async fn may_write(&self, signed: &SignedIn, caller: &Caller, org: &str) -> bool {
        if signed.require(POLICY_WRITE).is_ok() {
            return true;
        }
        let held = self.iam.access.holdings(caller, Target::org(org)).await;
        held.is_ok_and(|(_, holdings)| holdings.scopes.contains(POLICY_WRITE))
    }

    async fn usage(
        &self,
        caller: &Caller,
        org: &str,
        project: &str,
    ) -> Result<Vec<super::UsageVsLimit>, ApiError> {
        let query = EffectiveQuery {
            organization: org.to_owned(),
            project: project.to_owned(),
            api_key: None,
            resource: None,
        };
        Ok(self.decisions.usage(caller, query).await?)
    }
}

#[get("/policy/{org}")]
async fn org_page(
    signed: SignedIn,
    sources: Sources,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    render(&sources.page(&signed, &req, &org, Forms::default()).await?)
}

/// A project's override as the form sends it.
#[derive(Debug, Default, Deserialize)]
struct OverrideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    dimension: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    expires_at: String,
}

impl OverrideForm {
    /// The override it asks for, in `org`.
    fn to_override(&self, org: &str) -> Result<NewOverride, ApiError> {
        let invalid = |field: &str, reason: String| ApiError::Invalid {
            field: field.into(),
            reason,
        };
        let value = Value::parse(&self.value).map_err(|reason| invalid("value", reason))?;
        let expires_at = match self.expires_at.trim() {
            "" => None,
            day => Some(
                end_of(day)
                    .ok_or_else(|| invalid("expires_at", "must be a date, YYYY-MM-DD".into()))?,
            ),
        };
        Ok(NewOverride {
            level: Level::Project,
            plan: None,
            organization: Some(org.to_owned()),
            department: None,
            project: Some(self.project.trim().to_owned()),
            principal: None,
            api_key: None,
            dimension: self.dimension.trim().to_owned(),
            resource: None,
            value,
            delegate: false,
            reason: self.reason.trim().to_owned(),
            expires_at,
        })
    }
}

/// The first instant after `day` (UTC): an override "expiring on" a day applies through it.
fn end_of(day: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, &format).ok()?;
    Some(date.next_day()?.midnight().assume_utc())
}

fn back_to(org: &str) -> HttpResponse {
    session::redirect(&format!("/policy/{org}"))
}

/// What the form's author can correct, said on the page above the form; anything else
/// (403, 404, 5xx) is answered as every page answers it.
fn correctable(err: ApiError) -> Result<(StatusCode, String), ApiError> {
    match err {
        ApiError::Invalid { field, reason } => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field}: {reason}"),
        )),
        ApiError::Conflict { detail, .. } => Ok((StatusCode::CONFLICT, detail)),
        // Such as replacing what an operator imposed: said beside the form it came from.
        ApiError::Forbidden(detail) => Ok((StatusCode::FORBIDDEN, detail)),
        other => Err(other),
    }
}

#[post("/policy/{org}/overrides")]
async fn set_override(
    signed: SignedIn,
    sources: Sources,
    req: HttpRequest,
    org: web::Path<String>,
    form: Form<OverrideForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    let form = form.into_inner();
    let set = match form.to_override(&org) {
        Ok(new) => sources
            .overrides
            .set_override(&caller, new)
            .await
            .map_err(ApiError::from),
        Err(err) => Err(err),
    };
    let sent_back = |message| Forms {
        override_form: form,
        override_error: Some(message),
        ..Forms::default()
    };
    after_submit((&sources, &signed, &req), &org, set.map(drop), sent_back).await
}

/// Back to the page once a form's change is made; else the page again, answered with the
/// error's status, the form filled in as sent and what was wrong beside it (`sent_back`).
async fn after_submit(
    (sources, signed, req): (&Sources, &SignedIn, &HttpRequest),
    org: &str,
    done: Result<(), ApiError>,
    sent_back: impl FnOnce(String) -> Forms,
) -> Result<HttpResponse, ApiError> {
    let Err(err) = done else {
        return Ok(back_to(org));
    };
    let (status, message) = correctable(err)?;
    let page = sources.page(signed, req, org, sent_back(message)).await?;
    let mut response = render(&page)?;
    *response.status_mut() = status;
    Ok(response)
}

#[post("/policy/{org}/overrides/{id}/clear")]
async fn clear_override(
    _signed: SignedIn,
    overrides: web::Data<dyn Overrides>,
    req: HttpRequest,
    path: web::Path<(String, Uuid)>,
    form: Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    let (org, id) = path.into_inner();
    overrides.clear_override(&caller, id).await?;
    Ok(back_to(&org))
}
