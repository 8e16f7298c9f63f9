//! `/invitations/{token}`: the page an invitation link opens. The invited person accepts
//! when signed in with the invited email, or creates their account from it.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use crate::kit::error::ApiError;
use crate::kit::portal::layout::Layout;
use crate::platform::iam::Iam;
use crate::platform::iam::web::session;
use crate::platform::iam::web::session::form_caller;
use crate::platform::iam::{Caller, Invitation};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(invitation_page).service(accept).service(join);
}

/// Who is looking at the invitation.
enum Viewer {
    /// Nobody signed in: offer to create the account, or to sign in.
    Anonymous,
    /// The invited person, signed in.
    Invited,
    /// Someone else, signed in.
    Other,
}

#[derive(Template)]
#[template(path = "iam/invitation.html")]
struct InvitationPage {
    layout: Layout,
    invitation: Invitation,
    token: String,
    viewer: Viewer,
    /// The double-submit token of the account form (nobody is signed in).
    join_csrf: String,
}

#[get("/invitations/{token}")]
async fn invitation_page(
    iam: web::Data<Iam>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let invitation = iam.members.invitation(&token).await?;
    let viewer = match session::caller(&req) {
        Ok(Caller::User(user)) if user.email.eq_ignore_ascii_case(&invitation.email) => {
            Viewer::Invited
        }
        Ok(_) => Viewer::Other,
        Err(_) => Viewer::Anonymous,
    };
    let (join_csrf, pair) = session::anonymous_csrf(&req)?;
    let page = InvitationPage {
        layout: Layout::page("Invitation", Some("iam"), &req),
        invitation,
        token: token.into_inner(),
        viewer,
        join_csrf,
    };
    let html = page
        .render()
        .map_err(|err| ApiError::Internal(format!("template: {err}")))?;
    Ok(HttpResponse::Ok()
        .cookie(pair)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[post("/invitations/{token}")]
async fn accept(
    iam: web::Data<Iam>,
    req: HttpRequest,
    token: web::Path<String>,
    form: crate::kit::http::input::Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let Caller::User(user) = form_caller(&req, &form.csrf)? else {
        return Err(ApiError::Forbidden(
            "only a person can accept an invitation".into(),
        ));
    };
    let invitation = iam.members.invitation(&token).await?;
    iam.members.accept_invitation(&token, user.id).await?;
    Ok(session::redirect(&format!(
        "/access/{}",
        invitation.organization
    )))
}

#[derive(Debug, Deserialize)]
struct JoinForm {
    csrf: String,
    display_name: String,
    password: String,
    repeat: String,
}

/// Creates the invited address's account unless one exists (the answer never says which),
/// then asks the person to sign in and accept.
#[post("/invitations/{token}/join")]
async fn join(
    iam: web::Data<Iam>,
    req: HttpRequest,
    token: web::Path<String>,
    form: crate::kit::http::input::Form<JoinForm>,
) -> Result<HttpResponse, ApiError> {
    session::check_anonymous_csrf(&req, &form.csrf)?;
    if form.password != form.repeat {
        return Err(ApiError::Invalid {
            field: "repeat".into(),
            reason: "the password and its repetition differ".into(),
        });
    }
    iam.members
        .join(&token, &form.display_name, &form.password)
        .await?;
    Ok(session::redirect(&format!(
        "/login?next=/invitations/{}",
        token.into_inner()
    )))
}
