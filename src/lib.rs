//! aicloud: the AI Cloud shared platform and its first product, Token Factory.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod db;
pub mod encoding;
pub mod error;
pub mod http;
pub mod platform;
pub mod portal;

/// The server's version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
