//! `/account`: who you are, where you are a member, and your password.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use crate::kit::error::ApiError;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::Iam;
use crate::platform::iam::web::session::SignedIn;
use crate::platform::iam::web::session::{self, SESSION_COOKIE};
use crate::platform::iam::{CurrentUser, Organization, User};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(account_page).service(change_password);
}

#[derive(Template)]
#[template(path = "iam/account.html")]
struct AccountPage {
    layout: Layout,
    user: User,
    organizations: Vec<Organization>,
    changed: bool,
}

#[derive(Debug, Deserialize)]
struct AccountQuery {
    changed: Option<String>,
}

#[get("/account")]
async fn account_page(
    signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = signed.caller();
    let user = req
        .extensions()
        .get::<CurrentUser>()
        .map(|c| c.user.clone())
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
    render(&AccountPage {
        layout: Layout::page("Your account", Some("iam"), &req),
        organizations: iam.access.visible_organizations(&caller).await?,
        changed: query.changed.is_some(),
        user,
    })
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    repeat: String,
}

#[post("/account/password")]
async fn change_password(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    form: crate::kit::http::input::Form<PasswordForm>,
) -> Result<HttpResponse, ApiError> {
    session::check_csrf(&req, &form.csrf)?;
    if form.new != form.repeat {
        return Err(ApiError::Invalid {
            field: "repeat".into(),
            reason: "the new password and its repetition differ".into(),
        });
    }
    let current = req
        .extensions()
        .get::<CurrentUser>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
    let token = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let ip = req
        .peer_addr()
        .map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    iam.people
        .change_password(&current.user, &form.current, &form.new, &token, &ip)
        .await?;
    Ok(session::redirect("/account?changed=1"))
}
