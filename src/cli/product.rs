//! `aicloud product ...`: runs the registry's subcommands against the configured database.

use std::path::Path;

use super::{CliError, with_platform};
use crate::platform::registry::cli::{ProductCommand, run as run_command};

pub(super) fn run(config_dir: &Path, command: &ProductCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_command(platform.registry.as_ref(), command).await
    })
}
