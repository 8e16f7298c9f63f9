//! `aicloud audit keygen|verify|tail|search|digest|export`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::api::EventQuery;
use super::{Audit, AuditEvent, VerifyReport, chain, signing};
use crate::kit::cli::{CliError, Output, print};

/// Audit custody.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print a new Ed25519 digest signing key (for audit.signing_key) and its public key.
    Keygen {
        #[command(flatten)]
        out: Output,
    },
    /// Recompute the chain and check the digests; exit non-zero at the first break.
    Verify {
        /// First seq to check.
        #[arg(long)]
        from: Option<i64>,
        #[command(flatten)]
        out: Output,
    },
    /// The newest events.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        count: i64,
        #[command(flatten)]
        out: Output,
    },
    /// Events matching filters, newest first.
    Search(SearchArgs),
    /// Sign a digest over the events since the last one.
    Digest {
        #[command(flatten)]
        out: Output,
    },
    /// Write events FROM..=TO and their digests as JSON lines a third party can verify.
    Export {
        /// First seq.
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// Last seq (default: the newest).
        #[arg(long)]
        to: Option<i64>,
        /// Directory to write events.jsonl, digests.jsonl and public-key.json into.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Filters of `audit search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Audit action id.
    #[arg(long)]
    action: Option<String>,
    /// Actor id.
    #[arg(long)]
    actor: Option<String>,
    /// Target type.
    #[arg(long)]
    target_type: Option<String>,
    /// Target id.
    #[arg(long)]
    target_id: Option<String>,
    /// success, denied or failed.
    #[arg(long)]
    result: Option<String>,
    /// Organization id.
    #[arg(long)]
    organization: Option<uuid::Uuid>,
    /// Project id.
    #[arg(long)]
    project: Option<uuid::Uuid>,
    /// Occurred at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Occurred before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    #[command(flatten)]
    out: Output,
}

/// `keygen` needs no database.
pub fn keygen(out: &Output) -> Result<(), CliError> {
    let key = signing::generate().map_err(CliError::new)?;
    let public = signing::public_key(&signing::parse(&key).map_err(CliError::new)?);
    let text = format!(
        "# Add to config/local.toml (never commit it), or set AICLOUD__AUDIT__SIGNING_KEY:\n[audit]\nsigning_key = \"{key}\"\n# public key {} (id {}): give it to whoever verifies exports",
        public.public_key, public.key_id
    );
    print(
        out,
        &json!({ "signing_key": key, "public_key": public }),
        &text,
    )
}

fn failed(err: impl std::fmt::Display) -> CliError {
    CliError::new(err.to_string())
}

/// Runs an audit subcommand that needs the database.
pub async fn run(audit: &dyn Audit, command: &AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Keygen { out } => keygen(out),
        AuditCommand::Verify { from, out } => {
            let report = audit.verify(*from).await.map_err(failed)?;
            print(out, &report, &render_report(&report))?;
            match report.ok {
                true => Ok(()),
                false => Err(CliError::new("the audit chain is broken")),
            }
        }
        AuditCommand::Tail { count, out } => {
            let query = EventQuery {
                limit: Some(*count),
                ..EventQuery::default()
            };
            search(audit, &query, out).await
        }
        AuditCommand::Search(args) => search(audit, &args.query(), &args.out).await,
        AuditCommand::Digest { out } => {
            let digest = audit.sign_digest().await.map_err(failed)?;
            let text = match &digest {
                Some(d) => format!(
                    "digest {} signed over seq {}..={} (key {})",
                    d.number, d.seq_from, d.seq_to, d.key_id
                ),
                None => "no new events since the last digest".into(),
            };
            print(out, &digest, &text)
        }
        AuditCommand::Export { from, to, out } => export(audit, *from, *to, out).await,
    }
}

impl SearchArgs {
    fn query(&self) -> EventQuery {
        EventQuery {
            organization_id: self.organization,
            project_id: self.project,
            actor: self.actor.clone(),
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            result: self.result.clone(),
            from: self.since.clone(),
            to: self.until.clone(),
            cursor: None,
            limit: Some(self.limit),
        }
    }
}

async fn search(audit: &dyn Audit, query: &EventQuery, out: &Output) -> Result<(), CliError> {
    let filter = query.filter().map_err(failed)?;
    let page = audit.query(filter).await.map_err(failed)?;
    let lines: Vec<String> = page.events.iter().map(render_event).collect();
    let text = if lines.is_empty() {
        "no audit events match".to_owned()
    } else {
        lines.join("\n")
    };
    print(out, &page.events, &text)
}

fn render_event(e: &AuditEvent) -> String {
    format!(
        "{:>6}  {}  {:<8} {:<34} {}:{}  by {}:{}  [{}]",
        e.seq,
        chain::timestamp(e.occurred_at),
        e.result.as_str(),
        e.action,
        e.target_type,
        e.target_id,
        e.actor.kind.as_str(),
        e.actor.id,
        e.retention_class
    )
}

/// One line of the verify report.
pub fn render_report(r: &VerifyReport) -> String {
    match &r.first_break {
        None => format!(
            "chain intact: {} event(s) verified through seq {}, {} digest(s) checked",
            r.events_checked, r.verified_through, r.digests_checked
        ),
        Some(b) => format!(
            "chain BROKEN at seq {}: {} ({})",
            b.seq,
            b.kind.as_str(),
            b.detail
        ),
    }
}

/// An event exactly as the chain encodes it, plus its hash: a verifier rebuilds the array
/// from these fields in the documented order.
pub fn export_line(e: &AuditEvent) -> Value {
    let encoded: Value = serde_json::from_str(&chain::encode(e)).unwrap_or(Value::Null);
    let names = [
        "seq",
        "id",
        "occurred_at",
        "actor_kind",
        "actor_id",
        "actor_role",
        "on_behalf_of",
        "organization_id",
        "department_id",
        "project_id",
        "action",
        "target_type",
        "target_id",
        "result",
        "reason",
        "correlation_id",
        "client_ip",
        "user_agent",
        "details",
        "retention_class",
        "prev_hash",
    ];
    let mut line = serde_json::Map::new();
    for (name, value) in names.iter().zip(encoded.as_array().into_iter().flatten()) {
        line.insert((*name).to_owned(), value.clone());
    }
    line.insert("hash".into(), Value::String(e.hash.clone()));
    Value::Object(line)
}

async fn export(
    audit: &dyn Audit,
    from: i64,
    to: Option<i64>,
    dir: &PathBuf,
) -> Result<(), CliError> {
    let export = audit
        .export(from, to.unwrap_or(i64::MAX))
        .await
        .map_err(failed)?;
    std::fs::create_dir_all(dir)
        .map_err(|err| CliError::new(format!("{}: {err}", dir.display())))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|err| CliError::new(format!("{}: {err}", path.display())))
    };
    let lines = |values: Vec<Value>| values.iter().map(|v| format!("{v}\n")).collect::<String>();
    write(
        "events.jsonl",
        lines(export.events.iter().map(export_line).collect()),
    )?;
    write(
        "digests.jsonl",
        lines(export.digests.iter().map(|d| json!(d)).collect()),
    )?;
    let public = audit.public_key().map(|k| json!(k)).unwrap_or(Value::Null);
    write("public-key.json", format!("{public}\n"))?;
    println!(
        "exported {} event(s) and {} digest(s) to {}",
        export.events.len(),
        export.digests.len(),
        dir.display()
    );
    Ok(())
}
