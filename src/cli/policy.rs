//! `aicloud policy ...`.

use std::path::Path;

use super::{CliError, with_platform};
use crate::platform::policy::cli::{PolicyCommand, PolicyHandles, run as run_command};

pub(super) fn run(config_dir: &Path, command: &PolicyCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        let handles = PolicyHandles {
            plans: platform.plans.as_ref(),
            overrides: platform.overrides.as_ref(),
            entitlements: platform.entitlements.as_ref(),
            decisions: platform.decisions.as_ref(),
            people: platform.people.as_ref(),
        };
        run_command(&handles, command).await
    })
}
