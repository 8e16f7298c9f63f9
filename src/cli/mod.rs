//! `aicloud <subcommand>`: parsing and dispatch. Each area's subcommands live in a file
//! of their own; every command that prints data takes `--json`.

mod audit;
mod billing;
mod check;
mod events;
mod iam;
mod migrate;
mod policy;
mod product;
mod serve;
mod tf;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::base::config::Settings;

/// The aicloud server and its administration commands.
#[derive(Debug, Parser)]
#[command(name = "aicloud", version, about, propagate_version = true)]
pub struct Cli {
    /// Directory holding default.toml and the optional local.toml.
    #[arg(
        long,
        global = true,
        env = "AICLOUD_CONFIG_DIR",
        default_value = "config"
    )]
    pub config_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP APIs and the portal (migrates first unless configured not to).
    Serve,
    /// Apply pending database migrations.
    Migrate(Output),
    /// Check the configuration, that the database is reachable and migrations are current.
    Check(Output),
    /// Audit custody: keygen, verify, tail, search, digest, export.
    #[command(subcommand)]
    Audit(crate::platform::audit::cli::AuditCommand),
    /// The event outbox: dead letters and their replay.
    #[command(subcommand)]
    Events(crate::platform::events::cli::EventsCommand),
    /// Organizations: create, list, suspend.
    #[command(subcommand)]
    Org(crate::platform::iam::cli::OrgCommand),
    /// Projects: create, list.
    #[command(subcommand)]
    Project(crate::platform::iam::cli::ProjectCommand),
    /// Memberships: add, remove, list.
    #[command(subcommand)]
    Member(crate::platform::iam::cli_members::MemberCommand),
    /// Service accounts: create, list.
    #[command(subcommand)]
    Sa(crate::platform::iam::cli::SaCommand),
    /// API keys: issue, list, rotate, revoke.
    #[command(subcommand)]
    Key(crate::platform::iam::cli::KeyCommand),
    /// Create the first platform administrator and print a one-time password.
    Bootstrap {
        /// The administrator's email.
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Succeed without doing anything when an administrator exists already.
        #[arg(long)]
        if_absent: bool,
        #[command(flatten)]
        out: Output,
    },
    /// People: create, list, set-password.
    #[command(subcommand)]
    User(crate::platform::iam::cli::UserCommand),
    /// Review and onboard product packets; list and show products.
    #[command(subcommand)]
    Product(crate::platform::registry::cli::ProductCommand),
    /// Billing: balances, top-ups, grants, credit lines, prices, usage files.
    #[command(subcommand)]
    Billing(crate::platform::billing::cli::BillingCommand),
    /// Policy: plans, assignments, overrides, a project's effective policy and its reasons.
    #[command(subcommand)]
    Policy(crate::platform::policy::cli::PolicyCommand),
    /// Token Factory: the model catalog (models and endpoints) and the first-run demo.
    #[command(subcommand)]
    Tf(crate::products::token_factory::cli::TfCommand),
}

pub use crate::kit::cli::{CliError, Output, print};

/// Runs the parsed command and maps its outcome to an exit code.
pub fn dispatch(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Serve => serve::run(&cli.config_dir),
        Command::Migrate(out) => migrate::run(&cli.config_dir, out),
        Command::Check(out) => check::run(&cli.config_dir, out),
        Command::Product(command) => product::run(&cli.config_dir, command),
        Command::Audit(command) => audit::run(&cli.config_dir, command),
        Command::Events(command) => events::run(&cli.config_dir, command),
        Command::Org(command) => iam::org(&cli.config_dir, command),
        Command::Project(command) => iam::project(&cli.config_dir, command),
        Command::Sa(command) => iam::sa(&cli.config_dir, command),
        Command::Member(command) => iam::member(&cli.config_dir, command),
        Command::User(command) => iam::user(&cli.config_dir, command),
        Command::Bootstrap {
            email,
            password_stdin,
            if_absent,
            out,
        } => iam::bootstrap(&cli.config_dir, email, *password_stdin, *if_absent, out),
        Command::Key(command) => iam::key(&cli.config_dir, command),
        Command::Billing(command) => billing::run(&cli.config_dir, command),
        Command::Policy(command) => policy::run(&cli.config_dir, command),
        Command::Tf(command) => tf::run(&cli.config_dir, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `f` against the platform's modules, started without the HTTP server.
fn with_platform<F, Fut>(config_dir: &std::path::Path, f: F) -> Result<(), CliError>
where
    F: FnOnce(std::sync::Arc<crate::app::Platform>) -> Fut,
    Fut: std::future::Future<Output = Result<(), CliError>>,
{
    let settings = std::sync::Arc::new(load_settings(config_dir)?);
    let url = settings.database_url()?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|err| CliError::new(format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async move {
        let timeout = std::time::Duration::from_secs(settings.database.connect_timeout_secs);
        let db = crate::base::db::Db::new(&url, 2, timeout)
            .map_err(|err| CliError::new(err.to_string()))?;
        let platform = crate::app::Platform::start(db, settings)
            .await
            .map_err(|err| CliError::new(err.to_string()))?;
        f(std::sync::Arc::new(platform)).await
    })
}

fn load_settings(dir: &std::path::Path) -> Result<Settings, CliError> {
    Ok(Settings::load(dir)?)
}
