//! `aicloud billing price|usage ...`: price books and usage files.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Subcommand;
use rust_decimal::Decimal;

use super::cli::{failed, instant};
use super::store::ingest::MAX_BATCH;
use super::{IngestOutcome, Metering, NewPrice, Outcome, PriceView, Pricing, UsageEvent};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Caller;

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

/// Runs a usage subcommand.
pub(super) async fn run_usage(
    metering: &dyn Metering,
    console: &Caller,
    command: &UsageCommand,
) -> Result<(), CliError> {
    match command {
        UsageCommand::Ingest { file, out } => ingest_file(metering, console, file, out).await,
        UsageCommand::RateUnrated { out } => {
            let rated = metering.rate_unrated(console).await.map_err(failed)?;
            let text = format!("rated and posted {rated} events that had no price");
            print(out, &serde_json::json!({ "rated": rated }), &text)
        }
    }
}

pub(super) async fn run_price(
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
