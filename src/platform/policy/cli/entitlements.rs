//! `aicloud policy entitlement ...`: grant, withhold, list and clear, as the console
//! operator (whose settings are imposed: tenants cannot lift them).

use clap::{Args, Subcommand};
use uuid::Uuid;

use super::super::{EntitlementSettingView, Entitlements, Level, NewEntitlementSetting};
use super::text::{set_by, shown, table};
use super::{PAGE, every, failed};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Caller;

/// Entitlements.
#[derive(Debug, Subcommand)]
pub enum EntitlementCommand {
    /// Grant an entitlement at one scope (replacing the setting there).
    Grant(Box<SetEntitlement>),
    /// Withhold an entitlement at one scope (replacing the setting there).
    Withhold(Box<SetEntitlement>),
    /// Live settings, oldest first.
    List {
        /// Only this organization's (default: every setting).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Clear a live setting: the level above decides again.
    Clear {
        /// Its id.
        id: Uuid,
        #[command(flatten)]
        out: Output,
    },
}

/// Where to grant or withhold what.
#[derive(Debug, Args)]
pub struct SetEntitlement {
    /// The entitlement (the id of an `entitlement` registry entry).
    entitlement: String,
    /// Plan name (sets it for every organization on the plan).
    #[arg(long, conflicts_with_all = ["org", "global"])]
    plan: Option<String>,
    /// Organization slug (with `--project`, one project in it).
    #[arg(long)]
    org: Option<String>,
    /// Project slug.
    #[arg(long, requires = "org")]
    project: Option<String>,
    /// Platform-wide.
    #[arg(long, conflicts_with_all = ["org", "plan"])]
    global: bool,
    /// Why (shown in the audit trail).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    out: Output,
}

impl SetEntitlement {
    fn level(&self) -> Result<Level, CliError> {
        match (self.global, &self.plan, &self.org, &self.project) {
            (true, None, None, None) => Ok(Level::Global),
            (false, Some(_), None, None) => Ok(Level::Plan),
            (false, None, Some(_), None) => Ok(Level::Organization),
            (false, None, Some(_), Some(_)) => Ok(Level::Project),
            _ => Err(CliError::new(
                "name one scope: --global, --plan NAME, --org SLUG, or --org SLUG --project SLUG",
            )),
        }
    }

    fn setting(&self, granted: bool) -> Result<NewEntitlementSetting, CliError> {
        Ok(NewEntitlementSetting {
            entitlement: self.entitlement.clone(),
            level: self.level()?,
            plan: self.plan.clone(),
            organization: self.org.clone(),
            project: self.project.clone(),
            granted,
            reason: self.reason.clone(),
        })
    }
}

/// Runs an entitlement subcommand.
pub async fn run(
    entitlements: &dyn Entitlements,
    console: &Caller,
    command: &EntitlementCommand,
) -> Result<(), CliError> {
    match command {
        EntitlementCommand::Grant(set) | EntitlementCommand::Withhold(set) => {
            let granted = matches!(command, EntitlementCommand::Grant(_));
            let view = entitlements
                .set_entitlement(console, set.setting(granted)?)
                .await
                .map_err(failed)?;
            let verb = if granted { "granted" } else { "withheld" };
            let text = format!(
                "{verb} {} (setting {})\n{}",
                view.entitlement,
                view.id,
                settings_text(&[&view])
            );
            print(&set.out, &view, &text)
        }
        EntitlementCommand::List { org, out } => {
            let all = every_setting(entitlements, console, org.as_deref()).await?;
            let text = settings_text(&all.iter().collect::<Vec<_>>());
            print(out, &all, &text)
        }
        EntitlementCommand::Clear { id, out } => {
            let view = entitlements
                .clear_entitlement(console, *id)
                .await
                .map_err(failed)?;
            let text = format!("cleared setting {}\n{}", view.id, settings_text(&[&view]));
            print(out, &view, &text)
        }
    }
}

async fn every_setting(
    entitlements: &dyn Entitlements,
    console: &Caller,
    org: Option<&str>,
) -> Result<Vec<EntitlementSettingView>, CliError> {
    every(
        |after| entitlements.entitlement_settings(console, org, after, PAGE),
        |s: &EntitlementSettingView| s.id,
    )
    .await
}

/// Settings as a table.
pub(in crate::platform::policy) fn settings_text(settings: &[&EntitlementSettingView]) -> String {
    if settings.is_empty() {
        return "no entitlement settings".to_owned();
    }
    let rows: Vec<Vec<String>> = settings
        .iter()
        .map(|s| {
            let scope = if s.scope_id.is_empty() {
                "-".to_owned()
            } else {
                s.scope_id.clone()
            };
            vec![
                s.id.to_string(),
                s.entitlement.clone(),
                s.level.as_str().to_owned(),
                scope,
                (if s.granted { "granted" } else { "withheld" }).to_owned(),
                set_by(s.imposed).to_owned(),
                s.cleared_at
                    .map_or("live".to_owned(), |at| format!("cleared {}", shown(&at))),
                s.reason.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "ENTITLEMENT",
            "LEVEL",
            "SCOPE",
            "SETTING",
            "SET BY",
            "STATE",
            "REASON",
        ],
        &rows,
    )
}
