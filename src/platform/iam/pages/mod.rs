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

use actix_web::{HttpRequest, web};

use super::{Caller, Holdings, Place, Target};
use crate::kit::error::ApiError;
use crate::platform::iam::Iam;
use crate::platform::iam::web::session;

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    orgs::routes(cfg);
    projects::routes(cfg);
    account::routes(cfg);
    invitations::routes(cfg);
}

/// The signed-in caller and what it holds at `target` (404 when it cannot see it).
async fn at(
    iam: &Iam,
    req: &HttpRequest,
    target: Target,
) -> Result<(Caller, Place, Holdings), ApiError> {
    let caller = session::caller(req)?;
    let (place, holdings) = iam.access.holdings(&caller, target).await?;
    Ok((caller, place, holdings))
}

/// A submitted form whose CSRF token checked out: its fields, and who sent it.
struct Submitted {
    fields: Vec<(String, String)>,
    caller: Caller,
}

impl Submitted {
    /// Parses an urlencoded body, repeated keys (checkboxes) included, and checks its token.
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Submitted, ApiError> {
        let fields = crate::kit::http::input::form_fields(body)?;
        let caller = session::form_caller(req, value_of(&fields, "csrf"))?;
        Ok(Submitted { fields, caller })
    }

    /// The value of `name` (empty when absent).
    fn field(&self, name: &str) -> &str {
        value_of(&self.fields, name)
    }

    /// Every value of `name`, in order.
    fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// The first value of `name` in `fields` (empty when absent).
fn value_of<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}
