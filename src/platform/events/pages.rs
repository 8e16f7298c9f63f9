//! Portal page: dead letters, with replay.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use uuid::Uuid;

use super::DeadLetter;
use super::Events;
use crate::kit::error::ApiError;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::web::session::SignedIn;

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(dead_letters_page).service(replay_form);
}

#[derive(Template)]
#[template(path = "events/dead_letters.html")]
struct DeadLettersPage {
    layout: Layout,
    letters: Vec<DeadLetter>,
}

#[get("/events/dead-letters")]
async fn dead_letters_page(
    _signed: SignedIn,
    events: web::Data<dyn Events>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let letters = events.dead_letters(false).await?;
    render(&DeadLettersPage {
        layout: Layout::page("Dead letters", Some("events"), &req),
        letters,
    })
}

#[post("/events/dead-letters/{id}/replay")]
async fn replay_form(
    signed: SignedIn,
    events: web::Data<dyn Events>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: crate::kit::http::input::Form<crate::platform::iam::web::session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    crate::platform::iam::web::session::check_csrf(&req, &form.csrf)?;
    signed.require("platform.events.replay")?;
    events
        .replay(id.into_inner(), signed.caller().actor())
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/events/dead-letters"))
        .finish())
}
