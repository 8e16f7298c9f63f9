//! `aicloud events dlq list|replay ID`.

use clap::Subcommand;
use uuid::Uuid;

use super::{DeadLetter, Events};
use crate::kit::cli::{CliError, Output, print};

/// The event outbox.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Dead letters.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// Dead-letter commands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, newest first.
    List {
        /// Include replayed ones.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Put a dead letter back in its consumer's queue (audited).
    Replay {
        /// Dead-letter id, from `list`.
        id: Uuid,
    },
}

/// Runs an events subcommand.
pub async fn run(events: &dyn Events, command: &EventsCommand) -> Result<(), CliError> {
    match command {
        EventsCommand::Dlq(DlqCommand::List { all, out }) => {
            let letters = events
                .dead_letters(!*all)
                .await
                .map_err(|e| CliError::new(e.to_string()))?;
            print(out, &letters, &render(&letters))
        }
        EventsCommand::Dlq(DlqCommand::Replay { id }) => {
            events
                .replay(*id, crate::platform::audit::Actor::operator())
                .await
                .map_err(|e| CliError::new(e.to_string()))?;
            println!("dead letter {id} requeued; the relay of a running server delivers it");
            Ok(())
        }
    }
}

fn render(letters: &[DeadLetter]) -> String {
    if letters.is_empty() {
        return "no dead letters".into();
    }
    letters
        .iter()
        .map(|l| {
            format!(
                "{}  {}  {}  after {} attempt(s): {}{}",
                l.id,
                l.consumer,
                l.event.event_type,
                l.attempts,
                l.error,
                if l.replayed_at.is_some() {
                    "  (replayed)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
