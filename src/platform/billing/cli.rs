//! `aicloud billing ...`: balances, credits, prices and usage files, as the console operator.

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::store::ingest::MAX_BATCH;
use super::{
    Adjustments, Balance, Credit, IngestOutcome, JournalView, Ledger, Metering, NewGrant, NewPrice,
    Outcome, Period, PriceView, Pricing, Refund, RefundOf, Statement, Statements, UsageEvent,
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

/// Price versions.
#[derive(Debug, Subcommand)]
pub enum PriceCommand {
    /// Add the next version of a price.
    Set {
        /// Product id (its packet's `product.id`).
        product: String,
        /// One of its usage units, `<product>.<unit>`.
        unit: String,
        /// Minor units per unit, e.g. `0.000015` (cents per token).
        unit_price_minor: Decimal,
        /// ISO 4217 code.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// One of its resource types, `<product>.<type>`.
        #[arg(long)]
        resource_type: Option<String>,
        /// One resource of that type, e.g. a model id.
        #[arg(long)]
        resource_id: Option<String>,
        /// From when (RFC 3339, default now).
        #[arg(long)]
        from: Option<String>,
        /// Until when (RFC 3339, exclusive).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Every price version.
    List {
        /// Only this product's.
        #[arg(long)]
        product: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

/// Usage files.
#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Ingest a file of usage events, one JSON object per line (as `POST
    /// /api/v1/billing/usage` takes them); safe to run again: captured events are duplicates.
    Ingest {
        /// The JSON Lines file.
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
    /// Rate and post accepted events that a price now covers (add the price first, dated
    /// back to when they occurred).
    RateUnrated {
        #[command(flatten)]
        out: Output,
    },
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

fn failed(err: impl std::fmt::Display) -> CliError {
    CliError::new(err.to_string())
}

fn instant(flag: &str, value: Option<&String>) -> Result<Option<OffsetDateTime>, CliError> {
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
        BillingCommand::Usage(UsageCommand::Ingest { file, out }) => {
            ingest_file(b.metering, &console, file, out).await
        }
        BillingCommand::Usage(UsageCommand::RateUnrated { out }) => {
            let rated = b.metering.rate_unrated(&console).await.map_err(failed)?;
            let text = format!("rated and posted {rated} events that had no price");
            print(out, &serde_json::json!({ "rated": rated }), &text)
        }
    }
}

async fn run_price(
    pricing: &dyn Pricing,
    console: &Caller,
    command: &PriceCommand,
) -> Result<(), CliError> {
    match command {
        PriceCommand::Set {
            product,
            unit,
            unit_price_minor,
            currency,
            resource_type,
            resource_id,
            from,
            to,
            out,
        } => {
            let price = NewPrice {
                product: product.clone(),
                unit: unit.clone(),
                resource_type: resource_type.clone(),
                resource_id: resource_id.clone(),
                currency: currency.clone(),
                unit_price_minor: *unit_price_minor,
                effective_from: instant("from", from.as_ref())?,
                effective_to: instant("to", to.as_ref())?,
            };
            let view = pricing.set_price(console, price).await.map_err(failed)?;
            print(out, &view, &format!("set {}", price_line(&view)))
        }
        PriceCommand::List { product, out } => {
            let prices = pricing
                .prices(console, product.clone())
                .await
                .map_err(failed)?;
            let text = match prices.is_empty() {
                true => "no prices; add one with `aicloud billing price set PRODUCT UNIT PRICE`"
                    .to_owned(),
                false => prices.iter().map(price_line).collect::<Vec<_>>().join("\n"),
            };
            print(out, &prices, &text)
        }
    }
}

/// Reads the whole file first (a malformed line stops before anything is sent), then
/// sends it in batches.
async fn ingest_file(
    metering: &dyn Metering,
    console: &Caller,
    file: &PathBuf,
    out: &Output,
) -> Result<(), CliError> {
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| CliError::new(format!("cannot open {}: {e}", file.display())))?;
    let mut events: Vec<UsageEvent> = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line =
            line.map_err(|e| CliError::new(format!("cannot read {}: {e}", file.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|e| {
            CliError::new(format!(
                "{}:{}: not a usage event: {e}",
                file.display(),
                number + 1
            ))
        })?;
        events.push(event);
    }
    let mut results: Vec<IngestOutcome> = Vec::new();
    for batch in events.chunks(MAX_BATCH) {
        results.extend(
            metering
                .ingest(console, batch.to_vec())
                .await
                .map_err(failed)?,
        );
    }
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    let mut text = format!(
        "{} events: {} accepted, {} duplicate, {} rejected",
        results.len(),
        count(Outcome::Accepted),
        count(Outcome::Duplicate),
        count(Outcome::Rejected)
    );
    for r in results.iter().filter(|r| r.outcome == Outcome::Rejected) {
        text.push_str(&format!(
            "\n  rejected {}: {}",
            r.event_id,
            r.reason.as_deref().unwrap_or("")
        ));
    }
    print(out, &results, &text)?;
    match count(Outcome::Rejected) {
        0 => Ok(()),
        n => Err(CliError::new(format!("{n} events were rejected"))),
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

fn price_line(p: &PriceView) -> String {
    let resource = match (p.resource_type.as_str(), p.resource_id.as_str()) {
        ("", _) => "any resource".to_owned(),
        (rtype, "") => format!("any {rtype}"),
        (rtype, rid) => format!("{rtype} {rid}"),
    };
    let to = p.effective_to.map_or("open".to_owned(), |t| t.to_string());
    format!(
        "{} {} v{} {} {} per unit, {}, from {} to {} ({})",
        p.product,
        p.unit,
        p.version,
        p.unit_price_minor,
        p.currency,
        resource,
        p.effective_from,
        to,
        p.id
    )
}
