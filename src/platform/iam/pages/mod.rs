//! Portal pages for access: organizations, projects, members, invitations, role bindings,
//! service accounts, keys, and the signed-in person's own account.
//!
//! Pages resolve what they show through `Access` exactly like the API, so a person sees
//! only organizations they belong to (everything, for platform-wide readers), and every
//! form goes through the same escalation rules as the API and the CLI.

mod account;
mod invitations;
mod orgs;
mod projects;

use actix_web::{HttpRequest, HttpResponse, web};

use super::{Caller, Holdings, Place, Target};
use crate::app::Platform;
use crate::error::ApiError;
use crate::portal::session;

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    orgs::routes(cfg);
    projects::routes(cfg);
    account::routes(cfg);
    invitations::routes(cfg);
}

/// The signed-in caller and what it holds at `target` (404 when it cannot see it).
async fn at(
    platform: &Platform,
    req: &HttpRequest,
    target: Target,
) -> Result<(Caller, Place, Holdings), ApiError> {
    let caller = session::caller(req)?;
    let (place, holdings) = platform.access.holdings(&caller, target).await?;
    Ok((caller, place, holdings))
}

/// A form's caller once its CSRF token checks out.
fn form_caller(req: &HttpRequest, csrf: &str) -> Result<Caller, ApiError> {
    session::check_csrf(req, csrf)?;
    session::caller(req)
}

/// Back to `to` after a form did its work.
fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", to))
        .finish()
}

/// The fields of an urlencoded form, repeated keys (checkboxes) included.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The one value of `name` in `fields`.
fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}
