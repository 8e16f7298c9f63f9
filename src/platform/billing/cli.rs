//! `aicloud billing ...`: balances, credits, prices and usage files, as the console operator.

use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use super::cli_books::{PriceCommand, UsageCommand};
use super::cli_books::{run_price, run_usage};
use super::{
    Adjustments, Balance, Credit, JournalView, Ledger, Metering, NewGrant, Period, Pricing, Refund,
    RefundOf, Statement, Statements,
};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Caller;

/// Billing.
#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// An organization's funds: prepaid, promotional lots, credit line, state.
    Balance {
        /// Organization slug.
        organization: String,
        #[command(flatten)]
        out: Output,
    },
    /// Credit money received outside a payment processor to the prepaid balance.
    Topup {
        #[command(flatten)]
        movement: Movement,
        #[command(flatten)]
        out: Output,
    },
    /// Add a promotional lot, drawn before the prepaid balance.
    Grant {
        #[command(flatten)]
        movement: Movement,
        /// Drawn before lots of lower priority (0 to 1000).
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// When what is left stops counting (RFC 3339).
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Set how far the prepaid balance may go below zero (an amount of 0 removes it).
    CreditLine {
        #[command(flatten)]
        movement: Movement,
        #[command(flatten)]
        out: Output,
    },
    /// Refund part or all of a usage event, a payment or top-up, or a month of usage.
    Refund {
        /// Organization slug.
        organization: String,
        /// Billing's id of a usage event.
        #[arg(long, group = "of")]
        usage: Option<uuid::Uuid>,
        /// The journal transaction of a payment or top-up.
        #[arg(long, group = "of")]
        payment: Option<uuid::Uuid>,
        /// A month of usage, YYYY-MM (UTC).
        #[arg(long, group = "of")]
        period: Option<String>,
        /// Minor units (decimal); all that is left when absent.
        #[arg(long)]
        amount: Option<Decimal>,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: Output,
    },
    /// Reverse a top-up or an untouched grant posted in error.
    Reverse {
        /// The journal transaction.
        journal: uuid::Uuid,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: Output,
    },
    /// An organization's month from its ledger.
    Statement {
        /// Organization slug.
        organization: String,
        /// The month, YYYY-MM (UTC).
        #[arg(long)]
        period: String,
        /// text, json or csv.
        #[arg(long, default_value = "text")]
        format: String,
        /// The same as `--format json`.
        #[arg(long)]
        json: bool,
    },
    /// Check every invariant of the ledger; exits non-zero listing each violation.
    Reconcile {
        #[command(flatten)]
        out: Output,
    },
    /// Price books.
    #[command(subcommand)]
    Price(PriceCommand),
    /// Usage.
    #[command(subcommand)]
    Usage(UsageCommand),
}

/// An amount of money moved for an organization, and why.
#[derive(Debug, Args)]
pub struct Movement {
    /// Organization slug.
    organization: String,
    /// Whole minor units (cents).
    amount_minor: i64,
    /// Why (kept in the ledger and the audit trail).
    #[arg(long)]
    reason: String,
}

impl Movement {
    fn credit(&self) -> Credit {
        Credit {
            amount_minor: self.amount_minor,
            reason: self.reason.clone(),
        }
    }
}

/// What a billing command needs.
pub struct BillingHandles<'a> {
    /// Capture.
    pub metering: &'a dyn Metering,
    /// Prices.
    pub pricing: &'a dyn Pricing,
    /// Ledger.
    pub ledger: &'a dyn Ledger,
    /// Refunds and reversals.
    pub adjustments: &'a dyn Adjustments,
    /// Statements and reconciliation.
    pub statements: &'a dyn Statements,
}

pub(super) fn failed(err: impl std::fmt::Display) -> CliError {
    CliError::new(err.to_string())
}

pub(super) fn instant(
    flag: &str,
    value: Option<&String>,
) -> Result<Option<OffsetDateTime>, CliError> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|e| CliError::new(format!("--{flag} `{v}` is not RFC 3339: {e}")))
        })
        .transpose()
}

/// Runs a billing subcommand.
pub async fn run(b: &BillingHandles<'_>, command: &BillingCommand) -> Result<(), CliError> {
    let console = Caller::operator();
    match command {
        BillingCommand::Balance { organization, out } => {
            let balance = b
                .ledger
                .balance(&console, organization)
                .await
                .map_err(failed)?;
            print(out, &balance, &balance_text(organization, &balance))
        }
        BillingCommand::Topup { movement: m, out } => {
            let entry = b
                .ledger
                .top_up(&console, &m.organization, m.credit())
                .await
                .map_err(failed)?;
            print(
                out,
                &entry,
                &entry_text("topped up", &m.organization, &entry),
            )
        }
        BillingCommand::Grant {
            movement: m,
            priority,
            expires,
            out,
        } => {
            let grant = NewGrant {
                credit: m.credit(),
                priority: *priority,
                expires_at: instant("expires", expires.as_ref())?,
            };
            let entry = b
                .ledger
                .grant(&console, &m.organization, grant)
                .await
                .map_err(failed)?;
            print(out, &entry, &entry_text("granted", &m.organization, &entry))
        }
        BillingCommand::CreditLine { movement: m, out } => {
            let balance = b
                .ledger
                .set_credit_line(&console, &m.organization, m.credit())
                .await
                .map_err(failed)?;
            print(out, &balance, &balance_text(&m.organization, &balance))
        }
        BillingCommand::Refund {
            organization,
            usage,
            payment,
            period,
            amount,
            reason,
            out,
        } => {
            let of = match (usage, payment, period) {
                (Some(usage), _, _) => RefundOf::UsageEvent(*usage),
                (_, Some(payment), _) => RefundOf::Payment(*payment),
                (_, _, Some(period)) => RefundOf::Period(Period::parse(period).map_err(failed)?),
                _ => {
                    return Err(CliError::new(
                        "name what to refund: --usage, --payment or --period",
                    ));
                }
            };
            let refund = Refund {
                of,
                amount_minor: *amount,
                reason: reason.clone(),
            };
            let entry = b
                .adjustments
                .refund(&console, organization, refund)
                .await
                .map_err(failed)?;
            print(out, &entry, &entry_text("refunded", organization, &entry))
        }
        BillingCommand::Reverse {
            journal,
            reason,
            out,
        } => {
            let entry = b
                .adjustments
                .reverse(&console, *journal, reason)
                .await
                .map_err(failed)?;
            let text = format!(
                "reversed {journal} with journal transaction {} #{}",
                entry.id, entry.seq
            );
            print(out, &entry, &text)
        }
        BillingCommand::Statement {
            organization,
            period,
            format,
            json,
        } => {
            let format = if *json { "json" } else { format.as_str() };
            let period = Period::parse(period).map_err(failed)?;
            let statement = b
                .statements
                .statement(&console, organization, period)
                .await
                .map_err(failed)?;
            print_statement(&statement, format)
        }
        BillingCommand::Reconcile { out } => {
            let report = b.statements.reconcile(&console).await.map_err(failed)?;
            let mut text = format!("{} checks", report.checks.len());
            match report.violations.is_empty() {
                true => text.push_str(", no violations: the ledger reconciles"),
                false => text.push_str(&format!(", {} violations:", report.violations.len())),
            }
            for v in &report.violations {
                text.push_str(&format!("\n  {}: {}", v.check, v.detail));
            }
            print(out, &report, &text)?;
            match report.violations.len() {
                0 => Ok(()),
                n => Err(CliError::new(format!("{n} reconciliation violations"))),
            }
        }
        BillingCommand::Price(command) => run_price(b.pricing, &console, command).await,
        BillingCommand::Usage(command) => run_usage(b.metering, &console, command).await,
    }
}

fn print_statement(s: &Statement, format: &str) -> Result<(), CliError> {
    match format {
        "json" => print(&Output { json: true }, s, ""),
        "csv" => {
            let csv = s.to_csv().map_err(failed)?;
            print!("{csv}");
            Ok(())
        }
        "text" => {
            let mut text = format!(
                "statement {} ({}), minor units\n  opening  {}",
                s.period, s.currency, s.opening_minor
            );
            for m in &s.movements {
                text.push_str(&format!("\n  {:<9}{}", m.kind, m.amount_minor));
            }
            for u in &s.usage {
                text.push_str(&format!(
                    "\n    usage {} {} {}: {} for {}",
                    u.unit, u.resource_type, u.resource_id, u.quantity, u.amount_minor
                ));
            }
            text.push_str(&format!("\n  closing  {}", s.closing_minor));
            println!("{text}");
            Ok(())
        }
        other => Err(CliError::new(format!(
            "--format `{other}` is not text, json or csv"
        ))),
    }
}

fn balance_text(organization: &str, b: &Balance) -> String {
    let mut text = format!(
        "{organization}: {} available ({}), prepaid {}, promotional {}, credit line {} (minor units, {})",
        b.available_minor,
        b.state.as_str(),
        b.prepaid_minor,
        b.promotional_minor,
        b.credit_line_minor,
        b.currency
    );
    for g in &b.grants {
        let expires = g.expires_at.map_or("never".to_owned(), |at| at.to_string());
        text.push_str(&format!(
            "\n  grant {} {} of {} left, priority {}, expires {}: {}",
            g.id, g.remaining_minor, g.amount_minor, g.priority, expires, g.reason
        ));
    }
    text
}

fn entry_text(what: &str, organization: &str, entry: &JournalView) -> String {
    let amount = entry
        .postings
        .iter()
        .map(|p| p.amount_minor)
        .filter(|a| *a > Decimal::ZERO)
        .sum::<Decimal>();
    format!(
        "{what} {organization}: {amount} minor units (journal transaction {} #{})",
        entry.id, entry.seq
    )
}
