//! `aicloud events ...`.

use std::path::Path;

use super::{CliError, with_platform};
use crate::platform::events::cli::{EventsCommand, run as run_command};

pub(super) fn run(config_dir: &Path, command: &EventsCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_command(platform.events.as_ref(), command).await
    })
}
