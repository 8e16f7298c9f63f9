//! `aicloud org ...` and `aicloud project ...`.

use std::path::Path;

use super::{CliError, with_platform};
use crate::platform::iam::cli::{OrgCommand, ProjectCommand, run_org, run_project};

pub(super) fn org(config_dir: &Path, command: &OrgCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_org(platform.iam.as_ref(), command).await
    })
}

pub(super) fn project(config_dir: &Path, command: &ProjectCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_project(platform.iam.as_ref(), command).await
    })
}
