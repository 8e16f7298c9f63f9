//! `aicloud policy ...`: plans and assignments, overrides, entitlements, and a project's
//! effective policy with the reasons for each value, as the console operator.

use clap::{Args, Subcommand};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub(super) mod entitlements;
pub(super) mod text;

use self::text::{explain_text, overrides_text, plans_text, shown, snapshot_text};
use super::{
    Decisions, EffectivePolicy, EffectiveQuery, Entitlements, Level, NewOverride, NewPlan,
    OverrideView, Overrides, PlanLimit, PlanView, Plans, Resource, Source, Value,
};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Authors;
use crate::platform::iam::{Caller, People};

/// How many rows one call fetches while a list command walks every page.
const PAGE: usize = 200;

/// Policy.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Plans: create (or version), list, show.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Put an organization on a plan.
    Assign {
        /// Organization slug.
        organization: String,
        /// The plan's name.
        plan: String,
        /// From when (RFC 3339, default now).
        #[arg(long)]
        from: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Overrides: set, list, clear.
    #[command(subcommand)]
    Override(OverrideCommand),
    /// Entitlements: grant, withhold, list, clear.
    #[command(subcommand)]
    Entitlement(entitlements::EntitlementCommand),
    /// A project's effective policy: each dimension's ceiling and the scope it came from.
    Snapshot {
        #[command(flatten)]
        whose: Whose,
        #[command(flatten)]
        out: Output,
    },
    /// The same snapshot with every value looked at, where it came from and what became of it.
    Explain {
        #[command(flatten)]
        whose: Whose,
        #[command(flatten)]
        out: Output,
    },
}

/// Plans.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Create a plan, or the next version of one with this name.
    Create {
        /// Lowercase letters, digits, `-` and `_`.
        name: String,
        /// What it is for.
        #[arg(long)]
        description: String,
        /// A product it gives access to (repeat; default every product, `*`).
        #[arg(long = "product", value_name = "ID")]
        products: Vec<String>,
        /// A value (repeat): `DIMENSION=VALUE` or `DIMENSION@TYPE/ID=VALUE`, VALUE a whole
        /// number, `unlimited` or `not_entitled`.
        #[arg(long = "limit", value_name = "DIMENSION[@TYPE/ID]=VALUE", value_parser = plan_limit)]
        limits: Vec<PlanLimit>,
        /// Let organizations on the plan set a wider value of this dimension (repeat).
        #[arg(long = "delegate", value_name = "DIMENSION")]
        delegates: Vec<String>,
        #[command(flatten)]
        out: Output,
    },
    /// The latest version of every plan.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Every version of one plan, newest first.
    Show {
        /// The plan's name.
        name: String,
        #[command(flatten)]
        out: Output,
    },
}

/// Overrides.
#[derive(Debug, Subcommand)]
pub enum OverrideCommand {
    /// Set the value at one scope (replacing the live one there).
    Set(Box<SetOverride>),
    /// Overrides, oldest first, cleared and expired ones included.
    List {
        /// Only this organization's (default: every override).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Clear a live override.
    Clear {
        /// Its id.
        id: Uuid,
        #[command(flatten)]
        out: Output,
    },
}

/// An override to set: the level, what names its scope, the dimension and the value.
#[derive(Debug, Args)]
pub struct SetOverride {
    /// global, plan, organization, department, project, principal or api_key.
    #[arg(long, value_parser = level)]
    level: Level,
    /// Organization slug (every level below plan).
    #[arg(long)]
    org: Option<String>,
    /// Department slug (department level).
    #[arg(long)]
    department: Option<String>,
    /// Project slug (project, principal and api_key levels).
    #[arg(long)]
    project: Option<String>,
    /// User or service account id (principal level).
    #[arg(long)]
    principal: Option<Uuid>,
    /// API key prefix (api_key level).
    #[arg(long, value_name = "PREFIX")]
    key: Option<String>,
    /// Plan name (plan level).
    #[arg(long)]
    plan: Option<String>,
    /// The dimension.
    #[arg(long, value_name = "ID")]
    dimension: String,
    /// Only for this resource.
    #[arg(long, value_name = "TYPE/ID", value_parser = resource)]
    resource: Option<Resource>,
    /// A whole number, `unlimited` or `not_entitled`.
    #[arg(long, value_parser = Value::parse)]
    value: Value,
    /// Let lower scopes set a wider value.
    #[arg(long)]
    delegate: bool,
    /// Why (shown in explanations and the audit trail).
    #[arg(long)]
    reason: String,
    /// When it stops applying (RFC 3339).
    #[arg(long)]
    expires: Option<String>,
    #[command(flatten)]
    out: Output,
}

/// Whose effective policy: a project, optionally one key in it or one resource.
#[derive(Debug, Args)]
pub struct Whose {
    /// Organization slug.
    organization: String,
    /// Project slug.
    project: String,
    /// A key in the project, by prefix.
    #[arg(long, value_name = "PREFIX")]
    key: Option<String>,
    /// One resource.
    #[arg(long, value_name = "TYPE/ID", value_parser = resource)]
    resource: Option<Resource>,
}

impl Whose {
    fn query(&self) -> EffectiveQuery {
        EffectiveQuery {
            organization: self.organization.clone(),
            project: self.project.clone(),
            api_key: self.key.clone(),
            resource: self.resource.clone(),
        }
    }
}

/// What a policy command needs.
pub struct PolicyHandles<'a> {
    /// Plans and assignments.
    pub plans: &'a dyn Plans,
    /// Overrides.
    pub overrides: &'a dyn Overrides,
    /// Entitlement settings.
    pub entitlements: &'a dyn Entitlements,
    /// Effective snapshots.
    pub decisions: &'a dyn Decisions,
    /// Users, to name the people who set what `explain` shows.
    pub people: &'a dyn People,
}

fn failed(err: impl std::fmt::Display) -> CliError {
    CliError::new(err.to_string())
}

fn level(text: &str) -> Result<Level, String> {
    Level::parse(text).ok_or_else(|| {
        let names: Vec<_> = Level::ALL.iter().map(|l| l.as_str()).collect();
        format!("must be one of {}", names.join(", "))
    })
}

fn resource(text: &str) -> Result<Resource, String> {
    match text.split_once('/') {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => Ok(Resource {
            resource_type: kind.to_owned(),
            id: id.to_owned(),
        }),
        _ => Err("must be TYPE/ID: a resource type and the id of one resource of it".into()),
    }
}

fn plan_limit(text: &str) -> Result<PlanLimit, String> {
    let (target, value) = text
        .rsplit_once('=')
        .ok_or("must be DIMENSION=VALUE or DIMENSION@TYPE/ID=VALUE")?;
    let (dimension, resource) = match target.split_once('@') {
        Some((dimension, on)) => (dimension, Some(resource(on)?)),
        None => (target, None),
    };
    Ok(PlanLimit {
        dimension: dimension.to_owned(),
        resource_type: resource.as_ref().map(|r| r.resource_type.clone()),
        resource_id: resource.map(|r| r.id),
        value: Value::parse(value)?,
        delegate: false,
    })
}

fn instant(flag: &str, value: Option<&String>) -> Result<Option<OffsetDateTime>, CliError> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|e| CliError::new(format!("--{flag} `{v}` is not RFC 3339: {e}")))
        })
        .transpose()
}

/// Runs a policy subcommand.
pub async fn run(p: &PolicyHandles<'_>, command: &PolicyCommand) -> Result<(), CliError> {
    let console = Caller::operator();
    match command {
        PolicyCommand::Plan(command) => run_plan(p.plans, &console, command).await,
        PolicyCommand::Assign {
            organization,
            plan,
            from,
            out,
        } => {
            let from = instant("from", from.as_ref())?;
            let view = p
                .plans
                .assign(&console, organization, plan, from)
                .await
                .map_err(failed)?;
            let text = format!(
                "{organization} is on plan {} from {} (assignment {})",
                view.plan,
                shown(&view.effective_from),
                view.id
            );
            print(out, &view, &text)
        }
        PolicyCommand::Override(command) => run_override(p.overrides, &console, command).await,
        PolicyCommand::Entitlement(command) => {
            entitlements::run(p.entitlements, &console, command).await
        }
        PolicyCommand::Snapshot { whose, out } => {
            let policy = effective(p.decisions, &console, whose).await?;
            print(out, &policy, &snapshot_text(whose, &policy))
        }
        PolicyCommand::Explain { whose, out } => {
            let policy = effective(p.decisions, &console, whose).await?;
            let authors = (policy.dimensions.iter())
                .flat_map(|d| d.considered.iter())
                .filter_map(|c| match &c.source {
                    Source::Override { author, .. } => Some(author.as_str()),
                    Source::Plan { .. } => None,
                });
            let authors = Authors::of(p.people, authors).await.map_err(failed)?;
            print(out, &policy, &explain_text(whose, &policy, &authors))
        }
    }
}

async fn effective(
    decisions: &dyn Decisions,
    console: &Caller,
    whose: &Whose,
) -> Result<EffectivePolicy, CliError> {
    decisions
        .effective(console, whose.query())
        .await
        .map_err(failed)
}

async fn run_plan(
    plans: &dyn Plans,
    console: &Caller,
    command: &PlanCommand,
) -> Result<(), CliError> {
    match command {
        PlanCommand::Create {
            name,
            description,
            products,
            limits,
            delegates,
            out,
        } => {
            let plan = new_plan(name, description, products, limits, delegates)?;
            let view = plans.create_plan(console, plan).await.map_err(failed)?;
            let table = plans_text(std::slice::from_ref(&view));
            let text = format!(
                "created plan {} version {}\n{table}",
                view.name, view.version
            );
            print(out, &view, &text)
        }
        PlanCommand::List { out } => {
            let all = every_plan(plans, console).await?;
            print(out, &all, &plans_text(&all))
        }
        PlanCommand::Show { name, out } => {
            let versions = plans.plan(console, name).await.map_err(failed)?;
            print(out, &versions, &plans_text(&versions))
        }
    }
}

/// The plan to create: products default to every one, and each `--delegate` must name a
/// dimension some `--limit` gives.
fn new_plan(
    name: &str,
    description: &str,
    products: &[String],
    limits: &[PlanLimit],
    delegates: &[String],
) -> Result<NewPlan, CliError> {
    let mut limits = limits.to_vec();
    for dimension in delegates {
        let mut found = false;
        for limit in limits.iter_mut().filter(|l| l.dimension == *dimension) {
            limit.delegate = true;
            found = true;
        }
        if !found {
            return Err(CliError::new(format!(
                "--delegate {dimension}: no --limit gives that dimension"
            )));
        }
    }
    Ok(NewPlan {
        name: name.to_owned(),
        description: description.to_owned(),
        products: match products.is_empty() {
            true => vec!["*".to_owned()],
            false => products.to_vec(),
        },
        limits,
    })
}

async fn every_plan(plans: &dyn Plans, console: &Caller) -> Result<Vec<PlanView>, CliError> {
    let mut all: Vec<PlanView> = Vec::new();
    loop {
        let after = all.last().map(|p| p.name.clone());
        let page = plans.plans(console, after, PAGE).await.map_err(failed)?;
        let done = page.len() < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

async fn run_override(
    overrides: &dyn Overrides,
    console: &Caller,
    command: &OverrideCommand,
) -> Result<(), CliError> {
    match command {
        OverrideCommand::Set(set) => {
            let new = NewOverride {
                level: set.level,
                plan: set.plan.clone(),
                organization: set.org.clone(),
                department: set.department.clone(),
                project: set.project.clone(),
                principal: set.principal,
                api_key: set.key.clone(),
                dimension: set.dimension.clone(),
                resource: set.resource.clone(),
                value: set.value,
                delegate: set.delegate,
                reason: set.reason.clone(),
                expires_at: instant("expires", set.expires.as_ref())?,
            };
            let view = overrides.set_override(console, new).await.map_err(failed)?;
            let text = format!("set override {}\n{}", view.id, overrides_text(&[&view]));
            print(&set.out, &view, &text)
        }
        OverrideCommand::List { org, out } => {
            let all = every_override(overrides, console, org.as_deref()).await?;
            let text = overrides_text(&all.iter().collect::<Vec<_>>());
            print(out, &all, &text)
        }
        OverrideCommand::Clear { id, out } => {
            let view = overrides
                .clear_override(console, *id)
                .await
                .map_err(failed)?;
            let text = format!("cleared override {}\n{}", view.id, overrides_text(&[&view]));
            print(out, &view, &text)
        }
    }
}

async fn every_override(
    overrides: &dyn Overrides,
    console: &Caller,
    org: Option<&str>,
) -> Result<Vec<OverrideView>, CliError> {
    every(
        |after| overrides.overrides(console, org, after, PAGE),
        |o: &OverrideView| o.id,
    )
    .await
}

/// Every row a paged list call returns, fetching `PAGE` at a time after the last one's id.
pub(super) async fn every<T, E, F, Fut>(
    fetch: F,
    id: impl Fn(&T) -> Uuid,
) -> Result<Vec<T>, CliError>
where
    E: std::fmt::Display,
    F: Fn(Option<Uuid>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, E>>,
{
    let mut all: Vec<T> = Vec::new();
    loop {
        let page = fetch(all.last().map(&id)).await.map_err(failed)?;
        let done = page.len() < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_names_its_dimension_resource_and_value() {
        let limit = plan_limit("tf.rpm@tf.model/demo-echo=600").expect("parses");
        assert_eq!(limit.dimension, "tf.rpm");
        assert_eq!(limit.resource_type.as_deref(), Some("tf.model"));
        assert_eq!(limit.resource_id.as_deref(), Some("demo-echo"));
        assert_eq!(limit.value, Value::Limit(600));
        assert_eq!(
            plan_limit("tf.rpm=unlimited").map(|l| l.value),
            Ok(Value::Unlimited)
        );
        assert!(plan_limit("tf.rpm").is_err());
        assert!(plan_limit("tf.rpm@model=5").is_err());
        assert!(plan_limit("tf.rpm=lots").is_err());
    }

    #[test]
    fn a_delegate_must_name_a_limited_dimension() {
        let limits = [plan_limit("a=1").expect("parses")];
        let plan = new_plan("p", "d", &[], &limits, &["a".into()]).expect("valid");
        assert!(plan.limits[0].delegate);
        assert_eq!(plan.products, ["*"]);
        assert!(new_plan("p", "d", &[], &limits, &["b".into()]).is_err());
    }
}
