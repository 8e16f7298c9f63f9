//! Memberships, role bindings and invitations.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{IAM_READ, IAM_WRITE};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;
use crate::platform::iam::{Invitation, IssuedInvitation, Member, RoleBinding, Target};

/// A role to hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// owner|admin|member|viewer in an organization; admin|developer|viewer in a project.
    #[schema(min_length = 1, max_length = 128)]
    role: String,
}

/// Members of an organization.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<Member>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/members")]
pub async fn list_org_members(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    page: PageQuery,
) -> Result<web::Json<Page<Member>>, ApiError> {
    let (_, place) = guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    Ok(web::Json(page.page(
        iam.members.org_members(place.org()?).await?,
        |m| m.email.to_lowercase(),
    )?))
}

/// Changes a member's organization role; the platform may also add an existing account,
/// tenants invite. Only owners make owners; nobody grants a role carrying scopes they lack;
/// the last owner stays. A non-member gets the same 404 whether or not an account exists.
#[utoipa::path(tag = "iam", request_body = RoleBody, responses(
    (status = 200, body = Member), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[put("/orgs/{org}/members/{email}")]
pub async fn set_org_member(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: crate::kit::http::input::Json<RoleBody>,
) -> Result<web::Json<Member>, ApiError> {
    let (org, email) = path.into_inner();
    let (caller, place) = guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    let member = iam
        .members
        .set_org_member(&caller, place.org()?, &email, &body.role)
        .await?;
    Ok(web::Json(member))
}

/// Removes a member from the organization and all its projects.
#[utoipa::path(tag = "iam", responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[delete("/orgs/{org}/members/{email}")]
pub async fn remove_org_member(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, email) = path.into_inner();
    let (caller, place) = guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    iam.members
        .remove_org_member(&caller, place.org()?, &email)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Members of a project.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<Member>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/projects/{project}/members")]
pub async fn list_project_members(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    page: PageQuery,
) -> Result<web::Json<Page<Member>>, ApiError> {
    let (org, project) = path.into_inner();
    let target = Target::project(&org, &project);
    let (_, place) = guard::authorize(&iam, &req, IAM_READ, target).await?;
    Ok(web::Json(page.page(
        iam.members.project_members(place.project()?).await?,
        |m| m.email.to_lowercase(),
    )?))
}

/// Adds an organization member to the project, or changes their project role.
#[utoipa::path(tag = "iam", request_body = RoleBody, responses(
    (status = 200, body = Member), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)
))]
#[put("/orgs/{org}/projects/{project}/members/{email}")]
pub async fn set_project_member(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: crate::kit::http::input::Json<RoleBody>,
) -> Result<web::Json<Member>, ApiError> {
    let (org, project, email) = path.into_inner();
    let target = Target::project(&org, &project);
    let (caller, place) = guard::authorize(&iam, &req, IAM_READ, target).await?;
    let member = iam
        .members
        .set_project_member(&caller, place.project()?, &email, &body.role)
        .await?;
    Ok(web::Json(member))
}

/// Removes a project member.
#[utoipa::path(tag = "iam", responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/orgs/{org}/projects/{project}/members/{email}")]
pub async fn remove_project_member(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (org, project, email) = path.into_inner();
    let target = Target::project(&org, &project);
    let (caller, place) = guard::authorize(&iam, &req, IAM_READ, target).await?;
    iam.members
        .remove_project_member(&caller, place.project()?, &email)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Product roles bound in the organization.
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<RoleBinding>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/role-bindings")]
pub async fn list_role_bindings(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    page: PageQuery,
) -> Result<web::Json<Page<RoleBinding>>, ApiError> {
    let (_, place) = guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    Ok(web::Json(page.page(
        iam.members.role_bindings(place.org()?).await?,
        |b| b.id.to_string(),
    )?))
}

/// A product role for a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    /// The member's email.
    #[schema(min_length = 3, max_length = 254)]
    email: String,
    /// An active registry role of a product, e.g. `<product>.developer`.
    #[schema(min_length = 1, max_length = 128)]
    role: String,
    /// Project slug; organization-wide when absent.
    #[schema(max_length = 63)]
    project: Option<String>,
}

/// Binds a product role to a member.
#[utoipa::path(tag = "iam", request_body = NewBinding, responses(
    (status = 201, body = RoleBinding), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)
))]
#[post("/orgs/{org}/role-bindings")]
pub async fn grant_role(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: crate::kit::http::input::Json<NewBinding>,
) -> Result<HttpResponse, ApiError> {
    let target = match &body.project {
        Some(project) => Target::project(&org, project),
        None => Target::org(&org),
    };
    let (caller, place) = guard::authorize(&iam, &req, IAM_READ, target).await?;
    let binding = iam
        .members
        .grant_role(
            &caller,
            place.org()?,
            place.project.as_ref(),
            &body.email,
            &body.role,
        )
        .await?;
    Ok(HttpResponse::Created().json(binding))
}

/// Removes a role binding.
#[utoipa::path(tag = "iam", responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/orgs/{org}/role-bindings/{id}")]
pub async fn revoke_role(
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = path.into_inner();
    let (caller, place) = guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    iam.members.revoke_role(&caller, place.org()?, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Invitations of the organization (never their links).
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<Invitation>), (status = 404, body = Problem)))]
#[get("/orgs/{org}/invitations")]
pub async fn list_invitations(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    page: PageQuery,
) -> Result<web::Json<Page<Invitation>>, ApiError> {
    let (_, place) = guard::authorize(&iam, &req, IAM_WRITE, Target::org(&org)).await?;
    Ok(web::Json(page.page(
        iam.members.invitations(place.org()?).await?,
        |i| i.id.to_string(),
    )?))
}

/// An invitation to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Whom to invite.
    email: String,
    /// Organization role on acceptance.
    role: String,
    /// Days the link works, 1 to 30 (default 7).
    #[schema(minimum = 1, maximum = 30)]
    valid_days: Option<i64>,
}

/// Invites someone; the response carries the single-use token, shown this once.
#[utoipa::path(tag = "iam", request_body = NewInvitation, responses(
    (status = 201, body = IssuedInvitation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)
))]
#[post("/orgs/{org}/invitations")]
pub async fn invite(
    iam: web::Data<Iam>,
    req: HttpRequest,
    org: web::Path<String>,
    body: crate::kit::http::input::Json<NewInvitation>,
) -> Result<HttpResponse, ApiError> {
    // Range-checked before any arithmetic: a huge count would overflow a Duration.
    let days = body.valid_days.unwrap_or(7);
    if !(1..=30).contains(&days) {
        return Err(ApiError::Invalid {
            field: "valid_days".into(),
            reason: "must be 1 to 30".into(),
        });
    }
    let (caller, place) = guard::authorize(&iam, &req, IAM_READ, Target::org(&org)).await?;
    let issued = iam
        .members
        .invite(
            &caller,
            place.org()?,
            &body.email,
            &body.role,
            time::Duration::days(days),
        )
        .await?;
    Ok(HttpResponse::Created().json(issued))
}

/// An invitation token to use.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// The token from the invitation link.
    #[schema(min_length = 1, max_length = 128)]
    token: String,
}

/// Accepts an invitation as the signed-in user (or the user behind a user key).
#[utoipa::path(tag = "iam", request_body = Acceptance, responses(
    (status = 200, body = Member), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[post("/invitations/accept")]
pub async fn accept_invitation(
    iam: web::Data<Iam>,
    req: HttpRequest,
    body: crate::kit::http::input::Json<Acceptance>,
) -> Result<web::Json<Member>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let user = caller
        .user_id()
        .ok_or_else(|| ApiError::Forbidden("only a person can accept an invitation".into()))?;
    Ok(web::Json(
        iam.members.accept_invitation(&body.token, user).await?,
    ))
}
