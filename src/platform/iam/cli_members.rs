//! `aicloud member add|remove|list`: organization and project memberships at the command line.

use clap::Subcommand;

use super::cli::{console, project_of};
use super::{Member, Target};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Iam;

/// Memberships.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a user to an organization (or one of its projects), or change their role there.
    Add {
        /// Organization slug.
        organization: String,
        /// The user's email.
        email: String,
        /// owner|admin|member|viewer in an organization; admin|developer|viewer in a project.
        #[arg(long)]
        role: String,
        /// Project slug: the membership is in this project (the user must be in the
        /// organization already).
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Remove a user from an organization (with its project memberships) or from a project.
    Remove {
        /// Organization slug.
        organization: String,
        /// The user's email.
        email: String,
        /// Project slug: remove from this project only.
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// List the members of an organization or project.
    List {
        /// Organization slug.
        organization: String,
        /// Project slug.
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

fn failed(err: impl std::fmt::Display) -> CliError {
    CliError::new(err.to_string())
}

fn where_(organization: &str, project: Option<&String>) -> String {
    match project {
        Some(p) => format!("{organization}/{p}"),
        None => organization.to_owned(),
    }
}

/// Runs a member subcommand.
pub async fn run_member(iam: &Iam, command: &MemberCommand) -> Result<(), CliError> {
    let members = iam.members.as_ref();
    let caller = console();
    match command {
        MemberCommand::Add {
            organization,
            email,
            role,
            project,
            out,
        } => {
            let member = match project {
                Some(p) => {
                    let project = project_of(iam, organization, p).await?;
                    members
                        .set_project_member(&caller, &project, email, role)
                        .await
                }
                None => {
                    let org = organization_of(iam, organization).await?;
                    members.set_org_member(&caller, &org, email, role).await
                }
            }
            .map_err(failed)?;
            let text = format!(
                "{} is {} in {}",
                member.email,
                member.role,
                where_(organization, project.as_ref())
            );
            print(out, &member, &text)
        }
        MemberCommand::Remove {
            organization,
            email,
            project,
            out,
        } => {
            match project {
                Some(p) => {
                    let project = project_of(iam, organization, p).await?;
                    members
                        .remove_project_member(&caller, &project, email)
                        .await
                }
                None => {
                    let org = organization_of(iam, organization).await?;
                    members.remove_org_member(&caller, &org, email).await
                }
            }
            .map_err(failed)?;
            let place = where_(organization, project.as_ref());
            let removed = serde_json::json!({ "removed": email, "from": place });
            print(out, &removed, &format!("removed {email} from {place}"))
        }
        MemberCommand::List {
            organization,
            project,
            out,
        } => {
            let listed: Vec<Member> = match project {
                Some(p) => {
                    let project = project_of(iam, organization, p).await?;
                    members.project_members(&project).await
                }
                None => {
                    let org = organization_of(iam, organization).await?;
                    members.org_members(&org).await
                }
            }
            .map_err(failed)?;
            let lines: Vec<String> = listed
                .iter()
                .map(|m| format!("{:<32} {:<10} {}", m.email, m.role, m.display_name))
                .collect();
            print(out, &listed, &lines.join("\n"))
        }
    }
}

async fn organization_of(iam: &Iam, organization: &str) -> Result<super::Organization, CliError> {
    let place = iam
        .access
        .authorize(&console(), "platform.iam.read", Target::org(organization))
        .await
        .map_err(failed)?;
    place.org().cloned().map_err(failed)
}
