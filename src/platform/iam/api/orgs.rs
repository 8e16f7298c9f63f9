//! Organizations and projects.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::IAM_READ;
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;
use crate::platform::iam::{
    Caller, CreatedOrganization, Department, OrgKind, Organization, Project, Target,
};

/// Organizations the caller can see.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<Organization>), (status = 401, body = Problem)))]
#[get("/orgs")]
pub async fn list_orgs(
    iam: web::Data<Iam>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<Page<Organization>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(page.page(
        iam.access.visible_organizations(&caller).await?,
        |o| o.slug.clone(),
    )?))
}

/// A new organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// Unique slug.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9][a-z0-9-]*$")]
    slug: String,
    /// Display name.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// `team` (default) or `personal`.
    kind: Option<String>,
    /// Email of an existing user who becomes its owner.
    #[schema(min_length = 3, max_length = 254)]
    owner: Option<String>,
}

/// Creates an organization (platform scope `platform.org.manage`).
#[utoipa::path(tag = "iam", request_body = NewOrganization, responses(
    (status = 201, body = CreatedOrganization), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)
))]
#[post("/orgs")]
pub async fn create_org(
    iam: web::Data<Iam>,
    req: HttpRequest,
    body: crate::kit::http::input::Json<NewOrganization>,
) -> Result<HttpResponse, ApiError> {
    // IAM authorizes it (platform-wide `platform.org.manage`); the adapter only knows who asks.
    let caller = guard::caller(&iam, &req).await?;
    let kind = body.kind.as_deref().unwrap_or("team");
    let kind = OrgKind::parse(kind).ok_or_else(|| ApiError::Invalid {
        field: "kind".into(),
        reason: format!("`{kind}` is not team or personal"),
    })?;
    let created: CreatedOrganization = iam
        .tenancy
        .create_organization(&caller, &body.slug, &body.name, kind, body.owner.as_deref())
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// One organization.
#[utoipa::path(tag = "iam", responses((status = 200, body = Organization), (status = 404, body = Problem)))]
#[get("/orgs/{org}")]
pub async fn show_org(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<web::Json<Organization>, ApiError> {
    let (_, place) = guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    Ok(web::Json(place.org()?.clone()))
}

/// Suspends an organization: its keys are denied at once (platform scope `platform.org.manage`).
#[utoipa::path(tag = "iam", responses((status = 200, body = Organization), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[post("/orgs/{org}/suspend")]
pub async fn suspend_org(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<web::Json<Organization>, ApiError> {
    let caller = seeing(&iam, &req, &org).await?;
    Ok(web::Json(
        iam.tenancy
            .set_organization_active(&caller, &org, false)
            .await?,
    ))
}

/// Reactivates a suspended organization: its keys work again (platform scope
/// `platform.org.manage`).
#[utoipa::path(tag = "iam", responses((status = 200, body = Organization), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/orgs/{org}/reactivate")]
pub async fn reactivate_org(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<web::Json<Organization>, ApiError> {
    let caller = seeing(&iam, &req, &org).await?;
    Ok(web::Json(
        iam.tenancy
            .set_organization_active(&caller, &org, true)
            .await?,
    ))
}

/// The organization's projects.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<Project>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/projects")]
pub async fn list_projects(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    page: PageQuery,
) -> Result<web::Json<Page<Project>>, ApiError> {
    guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    Ok(web::Json(
        page.page(iam.tenancy.projects(&org).await?, |p| p.slug.clone())?,
    ))
}

/// A new project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Slug, unique in the organization.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9][a-z0-9-]*$")]
    slug: String,
    /// Display name.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Department slug (default: the organization's default department).
    #[schema(max_length = 63)]
    department: Option<String>,
}

/// Creates a project (`platform.iam.write` in the organization).
#[utoipa::path(tag = "iam", request_body = NewProject, responses(
    (status = 201, body = Project), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[post("/orgs/{org}/projects")]
pub async fn create_project(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: crate::kit::http::input::Json<NewProject>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let project = iam
        .tenancy
        .create_project(
            &caller,
            &org,
            &body.slug,
            &body.name,
            body.department.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Created().json(project))
}

/// The organization's departments (cost centers), the default first.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<Department>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/departments")]
pub async fn list_departments(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    page: PageQuery,
) -> Result<web::Json<Page<Department>>, ApiError> {
    guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    Ok(web::Json(
        page.page(iam.tenancy.departments(&org).await?, |d| d.slug.clone())?,
    ))
}

/// A new department.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    /// Slug, unique in the organization.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9][a-z0-9-]*$")]
    slug: String,
    /// Display name.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
}

/// Adds a department (`platform.iam.write` in the organization).
#[utoipa::path(tag = "iam", request_body = NewDepartment, responses(
    (status = 201, body = Department), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[post("/orgs/{org}/departments")]
pub async fn create_department(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: crate::kit::http::input::Json<NewDepartment>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let department = iam
        .tenancy
        .create_department(&caller, &org, &body.slug, &body.name)
        .await?;
    Ok(HttpResponse::Created().json(department))
}

/// One project.
#[utoipa::path(tag = "iam", responses((status = 200, body = Project), (status = 404, body = Problem)))]
#[get("/orgs/{org}/projects/{project}")]
pub async fn show_project(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<web::Json<Project>, ApiError> {
    let (org, project) = path.into_inner();
    let target = Target::project(&org, &project);
    let (_, place) = guard::authorize(&iam, &req, IAM_READ, target).await?;
    Ok(web::Json(place.project()?.clone()))
}

/// The caller, once they can see `org`: other tenants get a 404, as for every route of an
/// organization. IAM itself decides whether they may change its state.
async fn seeing(iam: &Iam, req: &HttpRequest, org: &str) -> Result<Caller, ApiError> {
    let (caller, _) = guard::authorize(iam, req, IAM_READ, Target::org(org)).await?;
    Ok(caller)
}
