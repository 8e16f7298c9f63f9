//! The shared services. Each module's public surface is its trait and the types in its
//! signatures; its store and schema are private.

pub mod audit;
pub mod events;
pub mod iam;
pub mod registry;
