//! aicloud: the AI Cloud shared platform and its first product, Token Factory.
//!
//! Layers, each naming only those before it (a test enforces it):
//! `base` (settings, database, time, encodings, request context) ← `kit` (errors, HTTP
//! plumbing, portal shell, CLI output) ← `platform` (the modules, each behind its traits)
//! ← the composition root: `app` (builds the modules and the server) and `cli` (commands).

pub mod base;
pub mod kit;
pub mod platform;
pub mod products;

pub mod app;
pub mod cli;

/// The server's version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
