//! `aicloud product review|onboard|list|show`.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::review::{CategoryStatus, Review};
use super::{
    Format, OnboardOutcome, PacketSource, ProductDetail, ProductSummary, Registry, RegistryError,
};
use crate::kit::cli::{CliError, Output, print};

/// Product onboarding and the registry's products.
#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Print the readiness review of packets; exit 0 only if every one passes.
    Review {
        /// Packet files (TOML or JSON); they may refer to each other.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        out: Output,
    },
    /// Validate a packet and activate its entries in one transaction (idempotent).
    Onboard {
        /// Packet file (TOML or JSON).
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
    /// List registered products.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Show one product.
    Show {
        /// Product slug.
        slug: String,
        #[command(flatten)]
        out: Output,
    },
}

/// Reads a packet file; the extension picks the format.
pub fn read_packet(path: &Path) -> Result<PacketSource, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| CliError::new(format!("{}: {err}", path.display())))?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        _ => Format::Toml,
    };
    Ok(PacketSource {
        origin: path.display().to_string(),
        text,
        format,
    })
}

fn failed(err: RegistryError) -> CliError {
    match err {
        RegistryError::Malformed(issue) => CliError::new(issue.to_string()),
        RegistryError::Invalid(issues) | RegistryError::Incompatible(issues) => {
            let lines: Vec<String> = issues.iter().map(|i| format!("  {i}")).collect();
            CliError::new(format!(
                "{err_head}\n{}",
                lines.join("\n"),
                err_head = "the packet was refused:"
            ))
        }
        RegistryError::NotReady(review) => CliError::new(format!(
            "the packet does not pass its readiness review:\n{}",
            render_review(&review)
        )),
        other => CliError::new(other.to_string()),
    }
}

/// Runs a product subcommand against `registry`.
pub async fn run(registry: &dyn Registry, command: &ProductCommand) -> Result<(), CliError> {
    match command {
        ProductCommand::Review { files, out } => {
            let sources = files
                .iter()
                .map(|f| read_packet(f))
                .collect::<Result<Vec<_>, _>>()?;
            let reviews = registry.review(sources).await.map_err(failed)?;
            let text: Vec<String> = reviews.iter().map(render_review).collect();
            print(out, &reviews, &text.join("\n"))?;
            match reviews.iter().all(|r| r.ready) {
                true => Ok(()),
                false => Err(CliError::new(
                    "not every packet passes its readiness review",
                )),
            }
        }
        ProductCommand::Onboard { file, out } => {
            let outcome = registry
                .onboard(
                    read_packet(file)?,
                    crate::platform::audit::Actor::operator(),
                )
                .await
                .map_err(failed)?;
            print(out, &outcome, &render_outcome(&outcome))
        }
        ProductCommand::List { out } => {
            let products = registry.products().await.map_err(failed)?;
            print(out, &products, &render_products(&products))
        }
        ProductCommand::Show { slug, out } => {
            let product = registry.product(slug).await.map_err(failed)?;
            print(out, &product, &render_product(&product))
        }
    }
}

fn render_review(review: &Review) -> String {
    let mut lines = vec![format!(
        "Readiness review: {} ({})",
        review.name.as_deref().unwrap_or("(no name)"),
        review.product_id
    )];
    for error in &review.errors {
        lines.push(format!("  error  {error}"));
    }
    lines.push("Categories".into());
    for category in &review.categories {
        let status = match category.status {
            CategoryStatus::Complete => "complete",
            CategoryStatus::Missing => "MISSING",
            CategoryStatus::NotApplicable => "not applicable",
        };
        lines.push(format!("  [{status:^14}] {}", category.name));
        lines.extend(
            category
                .missing
                .iter()
                .map(|m| format!("      missing: {m}")),
        );
        for na in &category.not_applicable {
            let flag = if na.overdue {
                "  REVIEW DATE PASSED"
            } else {
                ""
            };
            lines.push(format!(
                "      not applicable: {} (owner {}, until {}: {}){flag}",
                na.at, na.owner, na.review_date, na.reason
            ));
        }
    }
    lines.push("Review questions".into());
    for (n, answer) in review.questions.iter().enumerate() {
        lines.push(format!(
            "  {}. {}\n     {}",
            n + 1,
            answer.question,
            answer.answer
        ));
    }
    lines.push("Exit criteria".into());
    for criterion in &review.criteria {
        let mark = if criterion.holds { "x" } else { " " };
        lines.push(format!(
            "  [{mark}] {} ({})",
            criterion.criterion, criterion.detail
        ));
    }
    lines.push(format!(
        "Verdict: {}",
        if review.ready { "ready" } else { "NOT READY" }
    ));
    lines.join("\n")
}

fn render_outcome(outcome: &OnboardOutcome) -> String {
    if outcome.unchanged {
        return format!(
            "{}: unchanged (revision {}, nothing written)",
            outcome.slug, outcome.revision
        );
    }
    let d = &outcome.diff;
    format!(
        "{}: revision {} ({}), lifecycle {}: {} added, {} changed, {} retired; sha256 {}",
        outcome.slug,
        outcome.revision,
        if outcome.revision == 1 {
            "first"
        } else {
            "new"
        },
        outcome.lifecycle,
        d.added.len(),
        d.changed.len(),
        d.retired.len(),
        outcome.sha256
    )
}

fn render_products(products: &[ProductSummary]) -> String {
    if products.is_empty() {
        return "no products registered; onboard one with `aicloud product onboard FILE`".into();
    }
    let mut lines = vec![format!(
        "{:<20} {:<24} {:<12} {:>8}",
        "SLUG", "NAME", "LIFECYCLE", "REVISION"
    )];
    lines.extend(products.iter().map(|p| {
        format!(
            "{:<20} {:<24} {:<12} {:>8}",
            p.slug, p.name, p.lifecycle, p.revision
        )
    }));
    lines.join("\n")
}

fn render_product(product: &ProductDetail) -> String {
    let s = &product.summary;
    let mut lines = vec![
        format!("{} ({}, slug {})", s.name, s.id, s.slug),
        format!(
            "lifecycle {} (declared {}), revision {}",
            s.lifecycle, s.declared_lifecycle, s.revision
        ),
        product.description.clone(),
        "entries:".into(),
    ];
    lines.extend(
        product
            .entry_counts
            .iter()
            .map(|c| format!("  {:<22} {:<15} {}", c.family, c.state, c.count)),
    );
    lines.join("\n")
}
