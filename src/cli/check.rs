//! `aicloud check`: configuration valid, database reachable, migrations current.

use std::path::Path;

use serde::Serialize;

use super::{CliError, Output, load_settings, print};
use crate::base::db;

#[derive(Serialize)]
struct Report {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    migrations_applied: Option<usize>,
}

pub(super) fn run(config_dir: &Path, out: &Output) -> Result<(), CliError> {
    match inspect(config_dir) {
        Ok(applied) => {
            let text = format!(
                "ok: configuration valid, database reachable, migrations current ({applied} applied)"
            );
            let report = Report {
                ok: true,
                reason: None,
                migrations_applied: Some(applied),
            };
            print(out, &report, &text)
        }
        Err(err) if out.json => {
            let report = Report {
                ok: false,
                reason: Some(err.to_string()),
                migrations_applied: None,
            };
            print(out, &report, "")?;
            Err(err)
        }
        Err(err) => Err(err),
    }
}

/// Number of applied migrations when all is well; the first problem found otherwise.
fn inspect(config_dir: &Path) -> Result<usize, CliError> {
    let settings = load_settings(config_dir)?;
    let url = settings.database_url()?;
    let mut conn = db::connect(&url).map_err(|err| CliError::new(err.to_string()))?;
    let pending =
        db::pending_migrations(&mut conn).map_err(|err| CliError::new(err.to_string()))?;
    if !pending.is_empty() {
        return Err(CliError::new(format!(
            "migrations: {} pending ({}); run `aicloud migrate`",
            pending.len(),
            pending.join(", ")
        )));
    }
    let applied =
        db::applied_migrations(&mut conn).map_err(|err| CliError::new(err.to_string()))?;
    Ok(applied.len())
}
