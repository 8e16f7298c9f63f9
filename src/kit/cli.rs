//! What every module's commands share: output flags, the one-line error, printing, and
//! who the operator is.

use clap::Args;
use serde::Serialize;

use crate::base::config::ConfigError;

/// Output format flags shared by commands that print data.
#[derive(Debug, Args)]
pub struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A command's failure: one line for the operator, and the exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    message: String,
}

impl CliError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(err: ConfigError) -> CliError {
        CliError::new(err.to_string())
    }
}

/// Prints `value` as pretty JSON, or `text` otherwise.
pub fn print(out: &Output, value: &impl Serialize, text: &str) -> Result<(), CliError> {
    if out.json {
        let json = serde_json::to_string_pretty(value)
            .map_err(|err| CliError::new(format!("cannot encode output: {err}")))?;
        println!("{json}");
    } else {
        println!("{text}");
    }
    Ok(())
}

/// The operator running this command, as audit names them: `cli:<account>`, the
/// operating-system account the process runs as (from the OS's user database, so an empty
/// or forged `$USER` changes nothing).
pub fn operator() -> String {
    let user = whoami::username().unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}
