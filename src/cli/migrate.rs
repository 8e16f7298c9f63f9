//! `aicloud migrate`

use std::path::Path;

use serde::Serialize;

use super::{CliError, Output, load_settings, print};
use crate::base::db;

#[derive(Serialize)]
struct Migrated {
    applied_now: Vec<String>,
    applied_total: usize,
}

pub(super) fn run(config_dir: &Path, out: &Output) -> Result<(), CliError> {
    let settings = load_settings(config_dir)?;
    let owner_url = settings.owner_database_url()?;
    let applied_now = db::migrate(&owner_url, &settings.database_url()?)
        .map_err(|err| CliError::new(err.to_string()))?;
    let mut conn = db::connect(&owner_url).map_err(|err| CliError::new(err.to_string()))?;
    let applied_total = db::applied_migrations(&mut conn)
        .map_err(|err| CliError::new(err.to_string()))?
        .len();
    let text = match applied_now.as_slice() {
        [] => format!("migrations already current ({applied_total} applied)"),
        names => format!("applied {} migration(s): {}", names.len(), names.join(", ")),
    };
    print(
        out,
        &Migrated {
            applied_now,
            applied_total,
        },
        &text,
    )
}
