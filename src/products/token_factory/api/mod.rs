//! Token Factory's routes: `/v1` (OpenAI's API, OpenAI's error shape) and
//! `/api/v1/token-factory` (the catalog, problem+json like every platform API).

mod admin;
mod v1;

pub use admin::routes as admin_routes;
pub use v1::routes as v1_routes;
