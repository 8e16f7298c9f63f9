//! Portal page: dead letters, with replay.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use uuid::Uuid;

use super::DeadLetter;
use crate::app::Platform;
use crate::error::ApiError;
use crate::portal::session::SignedIn;
use crate::portal::{layout::Layout, render};

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
    platform: web::Data<Platform>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let letters = platform.events.dead_letters(false).await?;
    render(&DeadLettersPage {
        layout: Layout::new("Dead letters", Some("events"), platform.modules()).signed_in(&req),
        letters,
    })
}

#[post("/events/dead-letters/{id}/replay")]
async fn replay_form(
    signed: SignedIn,
    platform: web::Data<Platform>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: crate::http::input::Form<crate::portal::session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    crate::portal::session::check_csrf(&req, &form.csrf)?;
    signed.require("platform.events.replay")?;
    platform
        .events
        .replay(id.into_inner(), signed.caller().actor())
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", "/events/dead-letters"))
        .finish())
}
