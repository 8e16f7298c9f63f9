//! Portal pages of policy.

/// Registers the pages.
pub fn routes(_cfg: &mut actix_web::web::ServiceConfig) {}
