//! `aicloud audit ...`: keygen runs offline; the rest against the configured database.

use std::path::Path;

use super::{CliError, with_platform};
use crate::platform::audit::cli::{AuditCommand, keygen, run as run_command};

pub(super) fn run(config_dir: &Path, command: &AuditCommand) -> Result<(), CliError> {
    if let AuditCommand::Keygen { out } = command {
        return keygen(out);
    }
    with_platform(config_dir, |platform| async move {
        run_command(platform.audit.as_ref(), command).await
    })
}
