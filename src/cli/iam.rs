//! `aicloud org|project|member|sa|key|user|bootstrap ...`.

use std::path::Path;

use super::Output;
use super::{CliError, with_platform};
use crate::platform::iam::cli::{
    KeyCommand, OrgCommand, ProjectCommand, SaCommand, UserCommand, run_bootstrap, run_key,
    run_org, run_project, run_sa, run_user,
};

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

pub(super) fn sa(config_dir: &Path, command: &SaCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_sa(&platform.iam_handles(), command).await
    })
}

pub(super) fn key(config_dir: &Path, command: &KeyCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_key(&platform.iam_handles(), command).await
    })
}

pub(super) fn user(config_dir: &Path, command: &UserCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_user(platform.people.as_ref(), command).await
    })
}

pub(super) fn bootstrap(
    config_dir: &Path,
    email: &str,
    password_stdin: bool,
    if_absent: bool,
    out: &Output,
) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        run_bootstrap(
            platform.people.as_ref(),
            email,
            password_stdin,
            if_absent,
            out,
        )
        .await
    })
}

pub(super) fn member(
    config_dir: &Path,
    command: &crate::platform::iam::cli_members::MemberCommand,
) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        crate::platform::iam::cli_members::run_member(&platform.iam_handles(), command).await
    })
}
