//! `aicloud sa create|list` and `aicloud key issue|list|rotate|revoke`.

use clap::Subcommand;
use time::format_description::well_known::Rfc3339;

use super::cli::{console, failed, project_of};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Iam;

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
    /// Disable a service account: its keys are denied and it gets no new ones.
    Disable {
        /// Organization slug.
        organization: String,
        /// Project slug.
        project: String,
        /// The service account's name.
        name: String,
        #[command(flatten)]
        out: Output,
    },
}

/// API keys.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Issue a key for a service account; prints the secret once.
    Issue {
        /// Organization slug.
        organization: String,
        /// Project slug.
        project: String,
        /// The service account's name in that project.
        #[arg(long)]
        service_account: String,
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

/// Runs a service-account subcommand.
pub async fn run_sa(iam: &Iam, command: &SaCommand) -> Result<(), CliError> {
    match command {
        SaCommand::Create {
            organization,
            project,
            name,
            owner,
            purpose,
            out,
        } => {
            let sa = iam
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
            let project = project_of(iam, organization, project).await?;
            let listed = iam.keys.service_accounts(&project).await.map_err(failed)?;
            let lines: Vec<String> = listed
                .iter()
                .map(|sa| {
                    format!(
                        "{:<24} {:<8} {:<24} {:<36} {}",
                        sa.name, sa.state, sa.owner, sa.id, sa.purpose
                    )
                })
                .collect();
            print(out, &listed, &lines.join("\n"))
        }
        SaCommand::Disable {
            organization,
            project,
            name,
            out,
        } => {
            let sa = iam
                .keys
                .disable_service_account(&console(), organization, project, name)
                .await
                .map_err(failed)?;
            let text = format!("disabled service account {}; its keys are denied", sa.name);
            print(out, &sa, &text)
        }
    }
}

/// Runs a key subcommand.
pub async fn run_key(iam: &Iam, command: &KeyCommand) -> Result<(), CliError> {
    let keys = iam.keys.as_ref();
    match command {
        KeyCommand::Issue {
            organization,
            project,
            service_account,
            name,
            scopes,
            models,
            expires,
            out,
        } => {
            let project = project_of(iam, organization, project).await?;
            let holder = keys
                .holder_in(&console(), &project, Some(service_account))
                .await
                .map_err(failed)?;
            let expires_at = expires
                .as_deref()
                .map(|e| time::OffsetDateTime::parse(e, &Rfc3339))
                .transpose()
                .map_err(|_| {
                    CliError::new("--expires must be an RFC 3339 time like 2027-01-31T00:00:00Z")
                })?;
            let key = super::NewKey {
                holder,
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
            let project = project_of(iam, organization, project).await?;
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
