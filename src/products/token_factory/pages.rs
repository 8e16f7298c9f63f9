//! Portal pages. `/token-factory`: a developer's page (the keys of the projects they can
//! see, a quickstart with this server's base URL, usage by day and model as a chart, and
//! latency). `/token-factory/models`: the catalog with each endpoint's health, for
//! operators. `/token-factory/errors`: recent failed requests and the provider's token
//! counts beside the gateway's. Every read authorizes through the traits it calls.

mod rows;

use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use self::rows::{DayRow, KeyRow, ProjectKeys};
use super::analytics::{Analytics, CountComparison, FailedRequest};
use super::{Catalog, ModelView};
use crate::kit::error::ApiError;
use crate::kit::portal::chart::{DailyPoint, daily_bars};
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::web::session::SignedIn;
use crate::platform::iam::{Caller, Iam, Organization, Target};

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(models_page)
        .service(errors_page)
        .service(usage_chart);
}

/// Days of usage the developer page shows.
const DAYS: u16 = 30;
/// Projects whose keys one page lists.
const MAX_PROJECTS: usize = 20;
/// Scopes that let a person see a project's keys.
const SEES_KEYS: &[&str] = &[
    "platform.iam.read",
    "platform.keys.manage",
    "token_factory.keys.manage",
];

fn layout(req: &HttpRequest, title: &str) -> Layout {
    Layout::page(title, Some("token_factory"), req)
}

/// `?org=`: which organization the page is about.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Which {
    org: Option<String>,
}

#[derive(Template)]
#[template(path = "token_factory/home.html")]
struct HomePage {
    layout: Layout,
    base_url: String,
    organizations: Vec<Organization>,
    org: Option<Organization>,
    projects: Vec<ProjectKeys>,
    days: Option<Vec<DayRow>>,
}

/// This server's `/v1` URL, as the browser reached it.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/v1", info.scheme(), info.host())
}

#[get("/token-factory")]
async fn home(
    signed: SignedIn,
    iam: web::Data<Iam>,
    analytics: web::Data<dyn Analytics>,
    req: HttpRequest,
    which: web::Query<Which>,
) -> Result<HttpResponse, ApiError> {
    let caller = signed.caller();
    let organizations = iam.access.visible_organizations(&caller).await?;
    let org = match &which.org {
        Some(slug) => organizations.iter().find(|o| &o.slug == slug).cloned(),
        None => organizations.first().cloned(),
    };
    let (projects, days) = match &org {
        Some(org) => (
            project_keys(&iam, &caller, org).await?,
            analytics
                .daily_usage(&caller, &org.slug, DAYS)
                .await
                .ok()
                .map(rows::days),
        ),
        None => (Vec::new(), None),
    };
    render(&HomePage {
        layout: layout(&req, "Token Factory"),
        base_url: base_url(&req),
        organizations,
        org,
        projects,
        days,
    })
}

/// The keys of each project of `org` the caller may see keys in.
async fn project_keys(
    iam: &Iam,
    caller: &Caller,
    org: &Organization,
) -> Result<Vec<ProjectKeys>, ApiError> {
    let mut out = Vec::new();
    for project in iam
        .tenancy
        .projects(&org.slug)
        .await?
        .into_iter()
        .take(MAX_PROJECTS)
    {
        let Ok((_, holdings)) = iam
            .access
            .holdings(caller, Target::project(&org.slug, &project.slug))
            .await
        else {
            continue;
        };
        if !SEES_KEYS.iter().any(|s| holdings.holds(s)) {
            continue;
        }
        let keys = iam
            .keys
            .keys(&project)
            .await?
            .iter()
            .map(KeyRow::from)
            .collect();
        out.push(ProjectKeys {
            project: project.name.clone(),
            slug: project.slug.clone(),
            keys,
        });
    }
    Ok(out)
}

/// Tokens per day and model as an SVG image.
#[get("/token-factory/{org}/usage.svg")]
async fn usage_chart(
    signed: SignedIn,
    analytics: web::Data<dyn Analytics>,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let usage = analytics.daily_usage(&signed.caller(), &org, DAYS).await?;
    let points: Vec<DailyPoint> = usage
        .iter()
        .map(|u| DailyPoint {
            day: u.day.clone(),
            series: u.model.clone(),
            value: (u.input_tokens + u.output_tokens) as f32,
        })
        .collect();
    let today = time::OffsetDateTime::now_utc().date();
    let svg = daily_bars(&points, today, DAYS)
        .map_err(|err| ApiError::Internal(format!("drawing the usage chart: {err}")))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

#[derive(Template)]
#[template(path = "token_factory/models.html")]
struct ModelsPage {
    layout: Layout,
    models: Vec<ModelView>,
}

#[get("/token-factory/models")]
async fn models_page(
    signed: SignedIn,
    catalog: web::Data<dyn Catalog>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let models = catalog.models(&signed.caller(), None, 500).await?;
    render(&ModelsPage {
        layout: layout(&req, "Models"),
        models,
    })
}

#[derive(Template)]
#[template(path = "token_factory/errors.html")]
struct ErrorsPage {
    layout: Layout,
    failures: Vec<FailedRequest>,
    counts: Vec<CountComparison>,
}

#[get("/token-factory/errors")]
async fn errors_page(
    signed: SignedIn,
    analytics: web::Data<dyn Analytics>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let caller = signed.caller();
    let failures = analytics.failures(&caller, None, 100).await?;
    let counts = analytics.counts(&caller, 7).await?;
    render(&ErrorsPage {
        layout: layout(&req, "Recent errors"),
        failures,
        counts,
    })
}
