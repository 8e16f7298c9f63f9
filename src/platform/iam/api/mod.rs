//! `/api/v1/iam`: the calling principal, decisions for out-of-process products, and the
//! tenant operations (organizations, projects, members, roles, invitations, service
//! accounts, keys). Every route finds the caller and checks scope and tenant through
//! `http::guard`; another tenant's resources answer 404 as if they did not exist.

mod keys;
mod members;
mod orgs;
mod users;

use actix_web::{HttpRequest, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::{Caller, Decision, IamError, Organization, OrganizationId, Principal, ProjectId, User};
use crate::kit::error::{ApiError, Problem};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;

/// Scope a service account needs to ask for decisions, declared by the platform's packet.
const DECISIONS_SCOPE: &str = "platform.decisions.check";
const IAM_READ: &str = "platform.iam.read";
const IAM_WRITE: &str = "platform.iam.write";
const KEYS_MANAGE: &str = "platform.keys.manage";

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/iam")
            .service(me)
            .service(decisions)
            .service(orgs::list_orgs)
            .service(orgs::create_org)
            .service(orgs::show_org)
            .service(orgs::suspend_org)
            .service(orgs::reactivate_org)
            .service(orgs::list_projects)
            .service(orgs::create_project)
            .service(orgs::show_project)
            .service(orgs::list_departments)
            .service(orgs::create_department)
            .service(members::list_org_members)
            .service(members::set_org_member)
            .service(members::remove_org_member)
            .service(members::list_project_members)
            .service(members::set_project_member)
            .service(members::remove_project_member)
            .service(members::list_role_bindings)
            .service(members::grant_role)
            .service(members::revoke_role)
            .service(members::list_invitations)
            .service(members::invite)
            .service(members::accept_invitation)
            .service(keys::list_service_accounts)
            .service(keys::create_service_account)
            .service(keys::disable_service_account)
            .service(keys::list_keys)
            .service(keys::issue_key)
            .service(keys::revoke_key)
            .service(keys::rotate_key)
            .service(users::list_users)
            .service(users::create_user)
            .service(users::set_password)
            .service(users::disable_user)
            .service(users::enable_user),
    );
}

fn principal(iam: &Iam, req: &HttpRequest) -> Result<Principal, ApiError> {
    let bearer = guard::bearer(req).ok_or_else(|| {
        IamError::Unauthenticated("send an API key: Authorization: Bearer aic_...".into())
    })?;
    Ok(iam.keys.authenticate(bearer)?)
}

/// A signed-in person, as `/me` shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    /// Always `user`.
    kind: &'static str,
    /// The user.
    #[serde(flatten)]
    user: User,
    /// Organizations they can see.
    organizations: Vec<Organization>,
}

/// The caller: a key's principal, or a signed-in person.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Me {
    /// An API key.
    Key(Principal),
    /// A portal session.
    Person(Person),
}

/// The principal behind the bearer key, or the signed-in person.
#[utoipa::path(tag = "iam", responses((status = 200, body = Me), (status = 401, body = Problem)))]
#[get("/me")]
async fn me(iam: web::Data<Iam>, req: HttpRequest) -> Result<web::Json<Me>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(match caller {
        Caller::Key(principal) => Me::Key(principal),
        Caller::User(ref user) => Me::Person(Person {
            kind: "user",
            user: user.clone(),
            organizations: iam.access.visible_organizations(&caller).await?,
        }),
        Caller::Console(_) => {
            return Err(ApiError::Internal(
                "the console never calls over HTTP".into(),
            ));
        }
    }))
}

/// A decision request: may the key `subject` use `scope` in this organization and project?
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    /// The API key secret presented to the product.
    #[schema(min_length = 1, max_length = 256)]
    subject: String,
    /// Scope to check.
    #[schema(min_length = 1, max_length = 128)]
    scope: String,
    /// Target organization.
    organization_id: Uuid,
    /// Target project. Without it the decision is organization-wide, where a service
    /// account's key holds nothing (it is project-scoped).
    project_id: Option<Uuid>,
}

/// Decides for an out-of-process product; the caller's key needs `platform.decisions.check`.
#[utoipa::path(tag = "iam", request_body = DecisionRequest, responses(
    (status = 200, body = Decision), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)
))]
#[post("/decisions")]
async fn decisions(
    iam: web::Data<Iam>,
    req: HttpRequest,
    body: crate::kit::http::input::Json<DecisionRequest>,
) -> Result<web::Json<Decision>, ApiError> {
    let caller = principal(&iam, &req)?;
    for (field, value, max) in [("subject", &body.subject, 256), ("scope", &body.scope, 128)] {
        if !(1..=max).contains(&value.chars().count()) {
            return Err(ApiError::Invalid {
                field: field.into(),
                reason: format!("must be 1 to {max} characters"),
            });
        }
    }
    if !caller.scopes.iter().any(|s| s == DECISIONS_SCOPE)
        || !iam.registry.is_active("scope", DECISIONS_SCOPE)
    {
        return Err(ApiError::Forbidden(format!(
            "this key lacks the `{DECISIONS_SCOPE}` scope"
        )));
    }
    let subject = match iam.keys.authenticate(&body.subject) {
        Ok(subject) => subject,
        Err(_) => {
            return Ok(web::Json(Decision {
                allow: false,
                reason: "unauthenticated",
                message: "the key is unknown, revoked or expired".into(),
            }));
        }
    };
    Ok(web::Json(iam.keys.decide(
        &subject,
        &body.scope,
        OrganizationId(body.organization_id),
        body.project_id.map(ProjectId),
    )))
}
