//! People, at platform scope: the platform's administrators create accounts and reset
//! passwords (people change their own on the account page).

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::IAM_READ;
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;
use crate::platform::iam::{Target, User};

/// Every user (platform-wide `platform.iam.read`).
#[utoipa::path(params(PageQuery), tag = "iam", responses((status = 200, body = Page<User>), (status = 403, body = Problem)))]
#[get("/users")]
pub async fn list_users(
    iam: web::Data<Iam>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<Page<User>>, ApiError> {
    guard::authorize(&iam, &req, IAM_READ, Target::Platform).await?;
    Ok(web::Json(page.page(iam.people.users().await?, |u| {
        u.email.to_lowercase()
    })?))
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Email, unique regardless of case.
    #[schema(min_length = 3, max_length = 254)]
    email: String,
    /// Name shown in the portal.
    #[schema(min_length = 1, max_length = 200)]
    display_name: String,
    /// Initial password, 12 to 1024 characters; stored only as an argon2id hash.
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

/// Creates a user with no roles (platform-wide `platform.iam.write`).
#[utoipa::path(tag = "iam", request_body = NewUser, responses(
    (status = 201, body = User), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)
))]
#[post("/users")]
pub async fn create_user(
    iam: web::Data<Iam>,
    req: HttpRequest,
    body: crate::kit::http::input::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    // IAM authorizes it: people are the platform's (`platform.iam.write` platform-wide).
    let caller = guard::caller(&iam, &req).await?;
    let user = iam
        .people
        .create_user(&caller, &body.email, &body.display_name, &body.password)
        .await?;
    Ok(HttpResponse::Created().json(user))
}

/// A password to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

/// Resets a user's password and ends their sessions (platform-wide `platform.iam.write`).
#[utoipa::path(tag = "iam", request_body = NewPassword, responses(
    (status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)
))]
#[put("/users/{email}/password")]
pub async fn set_password(
    iam: web::Data<Iam>,
    req: HttpRequest,
    email: web::Path<String>,
    body: crate::kit::http::input::Json<NewPassword>,
) -> Result<HttpResponse, ApiError> {
    // IAM authorizes it: people are the platform's (`platform.iam.write` platform-wide).
    let caller = guard::caller(&iam, &req).await?;
    iam.people
        .set_password(&caller, &email, &body.password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Disables a user: they cannot sign in, their sessions end and their keys are denied;
/// memberships stay (platform-wide `platform.iam.write`). The last active platform
/// administrator cannot be disabled (409).
#[utoipa::path(tag = "iam", responses(
    (status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[post("/users/{email}/disable")]
pub async fn disable_user(
    iam: web::Data<Iam>,
    req: HttpRequest,
    email: web::Path<String>,
) -> Result<web::Json<User>, ApiError> {
    set_state(&iam, &req, &email, false).await
}

/// Enables a disabled user again (platform-wide `platform.iam.write`).
#[utoipa::path(tag = "iam", responses(
    (status = 200, body = User), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
))]
#[post("/users/{email}/enable")]
pub async fn enable_user(
    iam: web::Data<Iam>,
    req: HttpRequest,
    email: web::Path<String>,
) -> Result<web::Json<User>, ApiError> {
    set_state(&iam, &req, &email, true).await
}

async fn set_state(
    iam: &Iam,
    req: &HttpRequest,
    email: &str,
    active: bool,
) -> Result<web::Json<User>, ApiError> {
    let caller = guard::caller(iam, req).await?;
    let user = iam.people.set_user_state(&caller, email, active).await?;
    Ok(web::Json(user))
}
