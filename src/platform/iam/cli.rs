//! `aicloud org|project|sa|key|user|bootstrap ...`: IAM at the administrator's command line.

use clap::Subcommand;
use time::format_description::well_known::Rfc3339;

use super::{Caller, OrgKind, Organization, Project, Target, Tenancy};
use crate::app::Platform;
use crate::cli::{CliError, Output, print};

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
    /// Suspend an organization.
    Suspend {
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

fn failed(err: impl std::fmt::Display) -> CliError {
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
                .create_organization(slug, name, kind, owner.as_deref(), crate::cli::actor())
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
        OrgCommand::Suspend { slug, out } => {
            let org = iam
                .suspend_organization(slug, crate::cli::actor())
                .await
                .map_err(failed)?;
            print(out, &org, &format!("suspended organization {}", org.slug))
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
                    organization,
                    slug,
                    name,
                    department.as_deref(),
                    crate::cli::actor(),
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

/// Service accounts.
#[derive(Debug, Subcommand)]
pub enum SaCommand {
    /// Create a service account in a project.
    Create {
        /// Organization slug.
        organization: String,
        /// Project slug.
        project: String,
        /// Name, unique in the project (lowercase letters, digits, -).
        name: String,
        /// Who answers for it.
        #[arg(long)]
        owner: String,
        /// Why it exists.
        #[arg(long)]
        purpose: String,
        #[command(flatten)]
        out: Output,
    },
    /// List a project's service accounts.
    List {
        /// Organization slug.
        organization: String,
        /// Project slug.
        project: String,
        #[command(flatten)]
        out: Output,
    },
}

/// API keys.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue a key for a service account; prints the secret once.
    Issue {
        /// Service account id.
        #[arg(long)]
        service_account: uuid::Uuid,
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes (active registry scopes).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Comma-separated models the key may call (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        /// Expiry, RFC 3339.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// List a project's keys (never their secrets).
    List {
        /// Organization slug.
        organization: String,
        /// Project slug.
        project: String,
        #[command(flatten)]
        out: Output,
    },
    /// Issue a replacement key; the old one keeps working for the grace period.
    Rotate {
        /// The key's prefix.
        prefix: String,
        /// Seconds the old key keeps working (0: it stops now).
        #[arg(long, default_value_t = 0)]
        grace_secs: u64,
        #[command(flatten)]
        out: Output,
    },
    /// Revoke a key by prefix; every server denies it within a second.
    Revoke {
        /// The key's prefix (the part after `aic_`).
        prefix: String,
        #[command(flatten)]
        out: Output,
    },
}

/// The administrator at this command line: trusted like a platform administrator.
pub fn console() -> Caller {
    Caller::Console(crate::cli::actor().id)
}

/// The project `organization/project`, as the console sees it.
pub async fn project_of(
    platform: &Platform,
    organization: &str,
    project: &str,
) -> Result<Project, CliError> {
    let target = Target::project(organization, project);
    let place = platform
        .access
        .authorize(&console(), "platform.iam.read", target)
        .await
        .map_err(failed)?;
    place.project().cloned().map_err(failed)
}

/// Runs a service-account subcommand.
pub async fn run_sa(platform: &Platform, command: &SaCommand) -> Result<(), CliError> {
    match command {
        SaCommand::Create {
            organization,
            project,
            name,
            owner,
            purpose,
            out,
        } => {
            let sa = platform
                .keys
                .create_service_account(&console(), organization, project, name, owner, purpose)
                .await
                .map_err(failed)?;
            print(
                out,
                &sa,
                &format!("created service account {} ({})", sa.name, sa.id),
            )
        }
        SaCommand::List {
            organization,
            project,
            out,
        } => {
            let project = project_of(platform, organization, project).await?;
            let listed = platform
                .keys
                .service_accounts(&project)
                .await
                .map_err(failed)?;
            let lines: Vec<String> = listed
                .iter()
                .map(|sa| {
                    format!(
                        "{:<24} {:<24} {:<36} {}",
                        sa.name, sa.owner, sa.id, sa.purpose
                    )
                })
                .collect();
            print(out, &listed, &lines.join("\n"))
        }
    }
}

/// Runs a key subcommand.
pub async fn run_key(platform: &Platform, command: &KeyCommand) -> Result<(), CliError> {
    let keys = platform.keys.as_ref();
    match command {
        KeyCommand::Issue {
            service_account,
            name,
            scopes,
            models,
            expires,
            out,
        } => {
            let expires_at = expires
                .as_deref()
                .map(|e| time::OffsetDateTime::parse(e, &Rfc3339))
                .transpose()
                .map_err(|_| {
                    CliError::new("--expires must be an RFC 3339 time like 2027-01-31T00:00:00Z")
                })?;
            let key = super::NewKey {
                holder: super::KeyHolder::ServiceAccount(*service_account),
                name: name.clone(),
                scopes: scopes.clone(),
                model_allowlist: models.clone(),
                expires_at,
            };
            let issued = keys.issue_key(&console(), key).await.map_err(failed)?;
            let text = format!(
                "issued key {} ({}); its secret, shown this once:\n{}",
                issued.key.prefix, issued.key.name, issued.secret
            );
            print(out, &issued, &text)
        }
        KeyCommand::List {
            organization,
            project,
            out,
        } => {
            let project = project_of(platform, organization, project).await?;
            let listed = keys.keys(&project).await.map_err(failed)?;
            let lines: Vec<String> = listed
                .iter()
                .map(|k| {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let last_used = k
                        .last_used_at
                        .and_then(|at| at.format(&Rfc3339).ok())
                        .unwrap_or_else(|| "never used".into());
                    format!(
                        "{:<14} {:<24} {:<8} {:<32} {}",
                        k.prefix,
                        k.name,
                        state,
                        last_used,
                        k.scopes.join(",")
                    )
                })
                .collect();
            print(out, &listed, &lines.join("\n"))
        }
        KeyCommand::Rotate {
            prefix,
            grace_secs,
            out,
        } => {
            let grace = std::time::Duration::from_secs(*grace_secs);
            let issued = keys
                .rotate_key(&console(), prefix, grace)
                .await
                .map_err(failed)?;
            let text = format!(
                "rotated {prefix} to {}; the old key stops in {grace_secs}s. New secret, shown this once:\n{}",
                issued.key.prefix, issued.secret
            );
            print(out, &issued, &text)
        }
        KeyCommand::Revoke { prefix, out } => {
            let key = keys.revoke_key(&console(), prefix).await.map_err(failed)?;
            print(out, &key, &format!("revoked key {}", key.prefix))
        }
    }
}

/// People.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        /// Email.
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        out: Output,
    },
    /// List users.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Set a user's password (read from standard input); ends their sessions.
    SetPassword {
        /// Email.
        email: String,
    },
    /// Give a user a platform role (e.g. platform.security_auditor, platform.operator).
    Grant {
        /// Email.
        email: String,
        /// A platform role of the registry.
        role: String,
        #[command(flatten)]
        out: Output,
    },
    /// Take a platform role from a user.
    Revoke {
        /// Email.
        email: String,
        /// The platform role.
        role: String,
        #[command(flatten)]
        out: Output,
    },
}

/// The first line of standard input, for passwords (never on the command line, where
/// other users of the machine could read them).
pub fn password_from_stdin() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::new(format!("cannot read the password from standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `aicloud bootstrap`: the first platform administrator.
pub async fn run_bootstrap(
    people: &dyn super::People,
    email: &str,
    password_stdin: bool,
    if_absent: bool,
    out: &Output,
) -> Result<(), CliError> {
    let password = if password_stdin {
        Some(password_from_stdin()?)
    } else {
        None
    };
    let generated = password.is_none();
    let (user, password) = match people.bootstrap(email, password, crate::cli::actor()).await {
        Ok(created) => created,
        Err(super::IamError::Conflict(_)) if if_absent => {
            println!(
                "a platform administrator exists already; sign in as them (aicloud user set-password resets a password)"
            );
            return Ok(());
        }
        Err(err) => return Err(failed(err)),
    };
    let text = match generated {
        true => format!(
            "created platform administrator {}; one-time password (change it after signing in):\n{password}",
            user.email
        ),
        false => format!("created platform administrator {}", user.email),
    };
    let shown = if generated { Some(password) } else { None };
    print(
        out,
        &serde_json::json!({ "user": user, "password": shown }),
        &text,
    )
}

/// Runs a user subcommand.
pub async fn run_user(people: &dyn super::People, command: &UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Create { email, name, out } => {
            let password = password_from_stdin()?;
            let user = people
                .create_user(email, name, &password, crate::cli::actor())
                .await
                .map_err(failed)?;
            print(out, &user, &format!("created user {}", user.email))
        }
        UserCommand::List { out } => {
            let users = people.users().await.map_err(failed)?;
            let lines: Vec<String> = users
                .iter()
                .map(|u| {
                    format!(
                        "{:<32} {:<24} {:<8} {}",
                        u.email,
                        u.display_name,
                        u.state,
                        u.platform_roles.join(",")
                    )
                })
                .collect();
            print(out, &users, &lines.join("\n"))
        }
        UserCommand::SetPassword { email } => {
            let password = password_from_stdin()?;
            people
                .set_password(email, &password, crate::cli::actor())
                .await
                .map_err(failed)?;
            println!("password changed for {email}; their sessions have ended");
            Ok(())
        }
        UserCommand::Grant { email, role, out } | UserCommand::Revoke { email, role, out } => {
            let grant = matches!(command, UserCommand::Grant { .. });
            people
                .set_platform_role(email, role, grant, crate::cli::actor())
                .await
                .map_err(failed)?;
            let text = match grant {
                true => format!("{email} now holds {role}"),
                false => format!("{email} no longer holds {role}"),
            };
            let done = serde_json::json!({ "email": email, "role": role, "held": grant });
            print(out, &done, &text)
        }
    }
}
