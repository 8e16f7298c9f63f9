//! The kit: shared web and command-line plumbing that every module uses and that names no
//! module — the error table and problem+json, HTTP extractors and middleware, the portal
//! shell, and the CLI's output and errors.

pub mod cli;
pub mod error;
pub mod http;
pub mod portal;
