//! `aicloud product ...`: runs the registry's subcommands against the configured database.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{CliError, load_settings};
use crate::clock::SystemClock;
use crate::db::Db;
use crate::platform::registry::PgRegistry;
use crate::platform::registry::cli::{ProductCommand, run as run_command};

pub(super) fn run(config_dir: &Path, command: &ProductCommand) -> Result<(), CliError> {
    let settings = load_settings(config_dir)?;
    let url = settings.database_url()?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|err| CliError::new(format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async move {
        let db = Db::new(
            &url,
            2,
            Duration::from_secs(settings.database.connect_timeout_secs),
        )
        .map_err(|err| CliError::new(err.to_string()))?;
        let registry = PgRegistry::start(db, url, Arc::new(SystemClock))
            .await
            .map_err(|err| CliError::new(err.to_string()))?;
        run_command(&registry, command).await
    })
}
