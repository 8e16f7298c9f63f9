//! The base layer: what every other layer builds on and which names nothing above it —
//! settings, the database pool and migrations, time, encodings, and the request context
//! records carry.

pub mod clock;
pub mod config;
pub mod context;
pub mod db;
pub mod encoding;
