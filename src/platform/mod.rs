//! The shared services. Each module's public surface is its traits and the types in their
//! signatures; its store and schema are private.
//!
//! # The module template
//!
//! Every module (and every product under `src/products/`) has this shape; copy it for the
//! next one, and change this text first if a module needs something it lacks.
//!
//! ```text
//! src/platform/<module>/
//!   mod.rs       docs; `pub trait <Capability>: Send + Sync` (split past ~15 methods);
//!                domain types, id newtypes where ids of different kinds meet, <Module>Error
//!   store/       `Pg<Module>`, the only code naming its tables: one file per capability,
//!                its trait's impl first (a one-trait module keeps it in `mod.rs`), each
//!                trait method one `Db::run` closure calling a sync function that owns its
//!                transaction (and writes its audit event and outbox row in it). A sync
//!                `Pg<Module>` function taking the connection is named `<what>_on`: a trait
//!                method's own `<method>_on`, a shared one for what it does (`holdings_on`);
//!                a free function just for what it does (`reads::products`). Rules and reads
//!                the capabilities share go in sibling files named for what they hold;
//!                ~450 lines a file at most
//!   schema.rs    diesel `table!`s, every one qualified `<module>.<table>` (checked)
//!   api.rs       routes under /api/v1/<module>: parse, one trait call, map; handlers take
//!                `web::Data<dyn Trait>` and `web::Data<Iam>` for `iam::web::guard`
//!   pages.rs     askama pages; every handler takes `iam::web::session::SignedIn`;
//!                layouts from `kit::portal::layout::Layout::page`
//!   cli.rs       clap subcommands taking the module's trait; `kit::cli` for output/errors
//! migrations/<ts>_<module>_<what>/   the first creates schema <module>; down undoes up
//! ```
//!
//! Rules the tests hold every module to (tests/it/boundaries.rs, schema_drift.rs,
//! iam_isolation.rs, input_hygiene.rs, api_fuzz.rs):
//! - Dependencies run one way: `base` ← `kit` ← `platform` ← `app`/`cli`. A module names
//!   another only through its traits (and IAM's web adapters); never `crate::app` or
//!   `crate::cli`.
//! - No module's SQL names another module's schema; `schema.rs` matches the migrations.
//! - Every privileged operation takes the `Caller` and authorizes inside the module;
//!   adapters parse, call and map. Errors convert through `base::db::DbError` (the one
//!   diesel mapping) into the module's error, and from it into `kit::error::ApiError`.
//! - One error vocabulary: a module's error names the same meaning the same way —
//!   `Invalid { field, reason }` (422), `NotFound(String)` (404), `Conflict(..)` (409),
//!   `Forbidden(String)` (403), `Audit(AuditError)` when the change could not be audited,
//!   `Db(DbError)`; anything else is a variant the module documents (e.g. the registry's
//!   `NotReady`).
//! - Where ids of different kinds meet in a signature they are typed (`OrganizationId`,
//!   `ProjectId`), so they cannot be swapped.
//! - Bodies come through `kit::http::input::{Json, Form}` (control characters refused,
//!   strings and lists bounded); lists answer `kit::http::paging::Page` for a `PageQuery`.
//! - Audit events and outbox messages are made with `NewEvent::new` / `Message::new`, which
//!   take the request's correlation id, address and agent from `base::context`.
//! - Product-specific names (scopes, units, actions, components…) come from the registry
//!   and fail closed when not active.

pub mod audit;
pub mod billing;
pub mod events;
pub mod iam;
pub mod policy;
pub mod registry;
