//! `aicloud user ...` and `aicloud bootstrap`: people and platform roles.

use clap::Subcommand;

use super::cli::failed;
use crate::kit::cli::{CliError, Output, print};

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
    /// Disable a user: no sign-in, sessions ended, keys denied; memberships stay.
    Disable {
        /// Email.
        email: String,
        #[command(flatten)]
        out: Output,
    },
    /// Enable a disabled user again.
    Enable {
        /// Email.
        email: String,
        #[command(flatten)]
        out: Output,
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
    let (user, password) = match people
        .bootstrap(email, password, crate::platform::audit::Actor::operator())
        .await
    {
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
                .create_user(
                    &crate::platform::iam::Caller::operator(),
                    email,
                    name,
                    &password,
                )
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
                .set_password(&crate::platform::iam::Caller::operator(), email, &password)
                .await
                .map_err(failed)?;
            println!("password changed for {email}; their sessions have ended");
            Ok(())
        }
        UserCommand::Disable { email, out } | UserCommand::Enable { email, out } => {
            let active = matches!(command, UserCommand::Enable { .. });
            let user = people
                .set_user_state(&crate::platform::iam::Caller::operator(), email, active)
                .await
                .map_err(failed)?;
            print(
                out,
                &user,
                &format!("user {} is now {}", user.email, user.state),
            )
        }
        UserCommand::Grant { email, role, out } | UserCommand::Revoke { email, role, out } => {
            let grant = matches!(command, UserCommand::Grant { .. });
            people
                .set_platform_role(
                    &crate::platform::iam::Caller::operator(),
                    email,
                    role,
                    grant,
                )
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
