//! The operator portal shell: layout, navigation, landing page, static assets and the
//! friendly error page. Server-rendered with askama; works without JavaScript.

pub mod assets;
pub mod chart;
mod home;
pub mod layout;

use askama::Template;

use actix_web::HttpResponse;

use crate::kit::error::{ApiError, Problem};

/// Portal routes of the shell itself (modules add their own pages).
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(home::landing).service(assets::serve);
}

#[derive(Template)]
#[template(path = "portal/error.html")]
struct ErrorPage<'a> {
    layout: layout::Layout,
    problem: &'a Problem,
}

/// Renders a page as a 200 HTML response.
pub fn render(page: &impl Template) -> Result<HttpResponse, ApiError> {
    let html = page
        .render()
        .map_err(|err| ApiError::Internal(format!("template: {err}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// The HTML shown to a browser instead of problem+json.
pub fn error_page(problem: &Problem) -> String {
    let page = ErrorPage {
        layout: layout::Layout::new(&problem.title, None, &[]),
        problem,
    };
    page.render().unwrap_or_else(|err| {
        log::error!("error page failed to render: {err}");
        format!("{} {}", problem.status, problem.title)
    })
}
