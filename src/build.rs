//! Build script: rebuilds the crate when a migration is added.
//!
//! `embed_migrations!` (src/base/db) embeds `migrations/` at compile time, and Cargo reruns
//! a macro only when a file it already knows about changes. A new migration is a new
//! directory, so without this the binary and the tests go on migrating to the schema of
//! the last build, and a test of the new migration fails for a reason not in the code.
//! This is the build script diesel's documentation of the macro asks for.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
