//! HTTP plumbing shared by every module: request ids, problem responses, body limits,
//! health probes and the OpenAPI document.

pub mod client;
pub mod health;
pub mod input;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod problem;
pub mod request_id;
pub mod security_headers;
