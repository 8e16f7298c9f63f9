//! `/access`: the organizations a person can see, and one organization's projects,
//! members, invitations and role bindings.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use uuid::Uuid;

use super::{Submitted, at};
use crate::kit::error::ApiError;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::Iam;
use crate::platform::iam::web::session;
use crate::platform::iam::web::session::SignedIn;
use crate::platform::iam::web::session::form_caller;
use crate::platform::iam::{
    Department, Invitation, IssuedInvitation, Member, ORG_ROLES, OrgKind, Organization, Project,
    RoleBinding, Target,
};
use crate::platform::registry::EntryFilter;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(access_page)
        .service(create_org)
        .service(org_page)
        .service(set_org_state)
        .service(create_project)
        .service(create_department)
        .service(set_member)
        .service(remove_member)
        .service(invite)
        .service(grant_role)
        .service(revoke_role);
}

const IAM_WRITE: &str = "platform.iam.write";
const ORG_MANAGE: &str = "platform.org.manage";

fn layout(req: &HttpRequest, title: &str) -> Layout {
    Layout::page(title, Some("iam"), req)
}

#[derive(Template)]
#[template(path = "iam/access.html")]
struct AccessPage {
    layout: Layout,
    organizations: Vec<Organization>,
    can_create: bool,
    roles: Vec<RoleRow>,
}

/// A registry role and the scopes it grants.
struct RoleRow {
    id: String,
    description: String,
    scopes: Vec<String>,
}

/// Every active role: what memberships and bindings can grant.
async fn roles(iam: &Iam) -> Result<Vec<RoleRow>, ApiError> {
    let filter = EntryFilter {
        state: Some("active".into()),
        ..EntryFilter::default()
    };
    Ok(iam
        .registry
        .entries("role", filter)
        .await?
        .into_iter()
        .map(|e| RoleRow {
            scopes: serde_json::from_value(e.attributes["scopes"].clone()).unwrap_or_default(),
            id: e.id,
            description: e.description,
        })
        .collect())
}

#[get("/access")]
async fn access_page(
    signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let caller = signed.caller();
    let organizations = iam.access.visible_organizations(&caller).await?;
    let can_create =
        crate::platform::iam::web::guard::holds_platform_wide(&iam, &caller, ORG_MANAGE).await?;
    render(&AccessPage {
        layout: layout(&req, "Access"),
        organizations,
        can_create,
        roles: roles(&iam).await?,
    })
}

#[post("/access")]
async fn create_org(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    iam.access
        .authorize(&form.caller, ORG_MANAGE, Target::Platform)
        .await?;
    let slug = form.field("slug");
    let owner = Some(form.field("owner")).filter(|o| !o.trim().is_empty());
    iam.tenancy
        .create_organization(&form.caller, slug, form.field("name"), OrgKind::Team, owner)
        .await?;
    Ok(session::redirect(&format!("/access/{slug}")))
}

#[derive(Template)]
#[template(path = "iam/org.html")]
struct OrgPage {
    layout: Layout,
    org: Organization,
    your_role: String,
    can_write: bool,
    can_manage: bool,
    projects: Vec<Project>,
    departments: Vec<Department>,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    bindings: Vec<RoleBinding>,
    org_roles: &'static [&'static str],
    product_roles: Vec<String>,
    issued: Option<IssuedInvitation>,
}

async fn org_page_for(
    iam: &Iam,
    req: &HttpRequest,
    slug: &str,
    issued: Option<IssuedInvitation>,
) -> Result<HttpResponse, ApiError> {
    let (caller, place, holdings) = at(iam, req, Target::org(slug)).await?;
    let org = place.org()?.clone();
    let can_write = holdings.holds(IAM_WRITE);
    let can_manage =
        crate::platform::iam::web::guard::holds_platform_wide(iam, &caller, ORG_MANAGE).await?;
    let invitations = match can_write {
        true => iam.members.invitations(&org).await?,
        false => Vec::new(),
    };
    // The platform's own roles come with memberships; only product roles are bound.
    let product_roles = roles(iam)
        .await?
        .into_iter()
        .map(|r| r.id)
        .filter(|id| !id.starts_with("platform."))
        .collect();
    render(&OrgPage {
        layout: layout(req, &org.name),
        your_role: holdings
            .org_role
            .clone()
            .unwrap_or_else(|| "platform".into()),
        can_write,
        can_manage,
        projects: iam.tenancy.projects(&org.slug).await?,
        departments: iam.tenancy.departments(&org.slug).await?,
        members: iam.members.org_members(&org).await?,
        invitations,
        bindings: iam.members.role_bindings(&org).await?,
        org_roles: &ORG_ROLES,
        product_roles,
        issued,
        org,
    })
}

#[get("/access/{org}")]
async fn org_page(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    org_page_for(&iam, &req, &org, None).await
}

/// Suspends or reactivates the organization (`platform.org.manage` platform-wide).
#[post("/access/{org}/state")]
async fn set_org_state(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    // Seeing the organization comes first, so other tenants get a 404, not a 403.
    at(&iam, &req, Target::org(&org)).await?;
    iam.access
        .authorize(&form.caller, ORG_MANAGE, Target::Platform)
        .await?;
    let active = match form.field("state") {
        "suspended" => false,
        "active" => true,
        other => {
            return Err(ApiError::Invalid {
                field: "state".into(),
                reason: format!("`{other}` is neither `active` nor `suspended`"),
            });
        }
    };
    iam.tenancy
        .set_organization_active(&form.caller, &org, active)
        .await?;
    Ok(session::redirect(&format!("/access/{org}")))
}

#[post("/access/{org}/projects")]
async fn create_project(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    iam.access
        .authorize(&form.caller, IAM_WRITE, Target::org(&org))
        .await?;
    let slug = form.field("slug");
    let department = Some(form.field("department")).filter(|d| !d.is_empty());
    iam.tenancy
        .create_project(&form.caller, &org, slug, form.field("name"), department)
        .await?;
    Ok(session::redirect(&format!("/access/{org}/{slug}")))
}

#[post("/access/{org}/departments")]
async fn create_department(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    iam.access
        .authorize(&form.caller, IAM_WRITE, Target::org(&org))
        .await?;
    iam.tenancy
        .create_department(&form.caller, &org, form.field("slug"), form.field("name"))
        .await?;
    Ok(session::redirect(&format!("/access/{org}")))
}

#[post("/access/{org}/members")]
async fn set_member(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    let (_, place, _) = at(&iam, &req, Target::org(&org)).await?;
    iam.members
        .set_org_member(
            &form.caller,
            place.org()?,
            form.field("email"),
            form.field("role"),
        )
        .await?;
    Ok(session::redirect(&format!("/access/{org}")))
}

#[post("/access/{org}/members/remove")]
async fn remove_member(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    let (_, place, _) = at(&iam, &req, Target::org(&org)).await?;
    iam.members
        .remove_org_member(&form.caller, place.org()?, form.field("email"))
        .await?;
    Ok(session::redirect(&format!("/access/{org}")))
}

/// Sends an invitation and shows its link this once.
#[post("/access/{org}/invitations")]
async fn invite(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    let (_, place, _) = at(&iam, &req, Target::org(&org)).await?;
    let issued = iam
        .members
        .invite(
            &form.caller,
            place.org()?,
            form.field("email"),
            form.field("role"),
            time::Duration::days(7),
        )
        .await?;
    org_page_for(&iam, &req, &org, Some(issued)).await
}

#[post("/access/{org}/role-bindings")]
async fn grant_role(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = Submitted::parse(&req, &body)?;
    let target = match form.field("project") {
        "" => Target::org(&org),
        project => Target::project(&org, project),
    };
    let (_, place, _) = at(&iam, &req, target).await?;
    iam.members
        .grant_role(
            &form.caller,
            place.org()?,
            place.project.as_ref(),
            form.field("email"),
            form.field("role"),
        )
        .await?;
    Ok(session::redirect(&format!("/access/{org}")))
}

#[post("/access/{org}/role-bindings/{id}/remove")]
async fn revoke_role(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, Uuid)>,
    form: crate::kit::http::input::Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let caller = form_caller(&req, &form.csrf)?;
    let (_, place, _) = at(&iam, &req, Target::org(&org)).await?;
    iam.members.revoke_role(&caller, place.org()?, id).await?;
    Ok(session::redirect(&format!("/access/{org}")))
}
