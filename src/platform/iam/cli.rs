//! `aicloud org|project ...`, and what every IAM command shares: the console caller.

use clap::Subcommand;

use super::{Caller, OrgKind, Organization, Project, Target, Tenancy};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Iam;

pub use super::cli_keys::{KeyCommand, SaCommand, run_key, run_sa};
pub use super::cli_people::{UserCommand, password_from_stdin, run_bootstrap, run_user};

/// Organizations.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization with its default department and default project.
    Create {
        /// Unique slug (lowercase letters, digits, -).
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// `team` or `personal`.
        #[arg(long, default_value = "team")]
        kind: String,
        /// Email of an existing user who becomes its owner.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// List organizations.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Suspend an organization: its keys are denied.
    Suspend {
        /// Organization slug.
        slug: String,
        #[command(flatten)]
        out: Output,
    },
    /// Reactivate a suspended organization: its keys work again.
    Reactivate {
        /// Organization slug.
        slug: String,
        #[command(flatten)]
        out: Output,
    },
}

/// Projects.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project in an organization.
    Create {
        /// Organization slug.
        organization: String,
        /// Project slug, unique in the organization.
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Department slug (default: the organization's default department).
        #[arg(long)]
        department: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// List an organization's projects.
    List {
        /// Organization slug.
        organization: String,
        #[command(flatten)]
        out: Output,
    },
}

pub(super) fn failed(err: impl std::fmt::Display) -> CliError {
    CliError::new(err.to_string())
}

fn org_line(o: &Organization) -> String {
    format!(
        "{:<24} {:<32} {:<9} {:<10} {}",
        o.slug, o.name, o.kind, o.state, o.id
    )
}

fn project_line(p: &Project) -> String {
    format!("{:<24} {:<32} {}", p.slug, p.name, p.id)
}

/// Runs an org subcommand.
pub async fn run_org(iam: &dyn Tenancy, command: &OrgCommand) -> Result<(), CliError> {
    match command {
        OrgCommand::Create {
            slug,
            name,
            kind,
            owner,
            out,
        } => {
            let kind = OrgKind::parse(kind)
                .ok_or_else(|| CliError::new(format!("--kind `{kind}` is not team or personal")))?;
            let created = iam
                .create_organization(
                    &crate::platform::iam::Caller::operator(),
                    slug,
                    name,
                    kind,
                    owner.as_deref(),
                )
                .await
                .map_err(failed)?;
            let text = format!(
                "created organization {} ({}) with department `default` and project `default` ({})",
                created.organization.slug, created.organization.id, created.project.id
            );
            print(out, &created, &text)
        }
        OrgCommand::List { out } => {
            let orgs = iam.organizations().await.map_err(failed)?;
            let text = match orgs.is_empty() {
                true => "no organizations; create one with `aicloud org create SLUG --name NAME`"
                    .to_owned(),
                false => orgs.iter().map(org_line).collect::<Vec<_>>().join("\n"),
            };
            print(out, &orgs, &text)
        }
        OrgCommand::Suspend { slug, out } | OrgCommand::Reactivate { slug, out } => {
            let active = matches!(command, OrgCommand::Reactivate { .. });
            let org = iam
                .set_organization_active(&crate::platform::iam::Caller::operator(), slug, active)
                .await
                .map_err(failed)?;
            let done = if active { "reactivated" } else { "suspended" };
            print(out, &org, &format!("{done} organization {}", org.slug))
        }
    }
}

/// Runs a project subcommand.
pub async fn run_project(iam: &dyn Tenancy, command: &ProjectCommand) -> Result<(), CliError> {
    match command {
        ProjectCommand::Create {
            organization,
            slug,
            name,
            department,
            out,
        } => {
            let project = iam
                .create_project(
                    &crate::platform::iam::Caller::operator(),
                    organization,
                    slug,
                    name,
                    department.as_deref(),
                )
                .await
                .map_err(failed)?;
            print(
                out,
                &project,
                &format!(
                    "created project {organization}/{} ({})",
                    project.slug, project.id
                ),
            )
        }
        ProjectCommand::List { organization, out } => {
            let projects = iam.projects(organization).await.map_err(failed)?;
            print(
                out,
                &projects,
                &projects
                    .iter()
                    .map(project_line)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }
    }
}

/// The administrator at this command line: trusted like a platform administrator.
pub fn console() -> Caller {
    Caller::operator()
}

/// The project `organization/project`, as the console sees it.
pub async fn project_of(iam: &Iam, organization: &str, project: &str) -> Result<Project, CliError> {
    let target = Target::project(organization, project);
    let place = iam
        .access
        .authorize(&console(), "platform.iam.read", target)
        .await
        .map_err(failed)?;
    place.project().cloned().map_err(failed)
}
