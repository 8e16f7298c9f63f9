//! `/invitations/{token}`: the page an invitation link opens; accepting needs the invited
//! person signed in.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::{form_caller, see_other};
use crate::app::Platform;
use crate::error::ApiError;
use crate::platform::iam::{Caller, Invitation};
use crate::portal::{layout::Layout, render, session};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(invitation_page).service(accept);
}

#[derive(Template)]
#[template(path = "iam/invitation.html")]
struct InvitationPage {
    layout: Layout,
    invitation: Invitation,
    token: String,
    for_you: bool,
}

#[get("/invitations/{token}")]
async fn invitation_page(
    platform: web::Data<Platform>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let invitation = platform.members.invitation(&token).await?;
    let for_you = match session::caller(&req)? {
        Caller::User(user) => user.email.eq_ignore_ascii_case(&invitation.email),
        _ => false,
    };
    render(&InvitationPage {
        layout: Layout::new("Invitation", Some("iam"), platform.modules()).signed_in(&req),
        invitation,
        token: token.into_inner(),
        for_you,
    })
}

#[post("/invitations/{token}")]
async fn accept(
    platform: web::Data<Platform>,
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let Caller::User(user) = form_caller(&req, &form.csrf)? else {
        return Err(ApiError::Forbidden(
            "only a person can accept an invitation".into(),
        ));
    };
    let invitation = platform.members.invitation(&token).await?;
    platform.members.accept_invitation(&token, &user).await?;
    Ok(see_other(&format!("/access/{}", invitation.organization)))
}
