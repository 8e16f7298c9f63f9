//! `aicloud tf`: the model catalog from the command line (`model add|list|show|enable|
//! disable`, `endpoint add|remove`) as the console operator, audited like the API; and
//! `demo`, the first run's demo organization, key and prices.

mod demo;
mod text;

use clap::{Args, Subcommand};

pub use demo::DemoHandles;

use super::{Catalog, ModelKind, NewEndpoint, NewModel};
use crate::kit::cli::{CliError, Output, print};
use crate::platform::iam::Caller;

/// How many models one call fetches while `list` walks every page.
const PAGE: usize = 200;

/// Token Factory.
#[derive(Debug, Subcommand)]
pub enum TfCommand {
    /// Models: add, list, show, enable, disable.
    #[command(subcommand)]
    Model(ModelCommand),
    /// A model's upstream endpoints: add, remove.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Create the demo organization, project and key (once), price the demo models and
    /// print how to call them.
    Demo {
        /// Do nothing (but say so) when the demo organization exists already.
        #[arg(long)]
        if_absent: bool,
        /// The base URL clients reach the server at (default: the server's own address).
        #[arg(long)]
        base_url: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

/// Models.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Add a model (enabled), optionally with one endpoint.
    Add(AddModel),
    /// List every model.
    List(Output),
    /// Show one model with its endpoints and their health.
    Show {
        /// Model id.
        id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Enable a model.
    Enable {
        /// Model id.
        id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Disable a model: its requests get model_not_found.
    Disable {
        /// Model id.
        id: String,
        #[command(flatten)]
        out: Output,
    },
}

/// `tf model add`.
#[derive(Debug, Args)]
pub struct AddModel {
    /// The id clients name.
    id: String,
    /// A name for people (default: the id).
    #[arg(long)]
    display_name: Option<String>,
    /// chat or embedding.
    #[arg(long, default_value = "chat", value_parser = parse_kind)]
    kind: ModelKind,
    /// Input plus output tokens the model takes.
    #[arg(long, default_value_t = 8192)]
    context_length: u32,
    /// Most output tokens per request.
    #[arg(long, default_value_t = 1024)]
    max_output_tokens: u32,
    /// A fallback model, tried when this one's endpoints cannot serve (repeat for more).
    #[arg(long = "fallback")]
    fallbacks: Vec<String>,
    /// Needs the premium entitlement.
    #[arg(long)]
    premium: bool,
    /// An endpoint to register with it: its OpenAI-compatible base URL.
    #[arg(long)]
    base_url: Option<String>,
    /// The endpoint's model name upstream (default: the id).
    #[arg(long)]
    upstream_model: Option<String>,
    /// The environment variable holding the endpoint's API key.
    #[arg(long)]
    credential_env: Option<String>,
    #[command(flatten)]
    out: Output,
}

/// Endpoints.
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Register an endpoint for a model.
    Add(AddEndpoint),
    /// Remove a model's endpoint.
    Remove {
        /// Model id.
        model: String,
        /// Endpoint name.
        name: String,
        #[command(flatten)]
        out: Output,
    },
}

/// `tf endpoint add`.
#[derive(Debug, Args)]
pub struct AddEndpoint {
    /// Model id.
    model: String,
    /// Endpoint name within the model.
    name: String,
    /// Its OpenAI-compatible base URL (…/v1).
    #[arg(long)]
    base_url: String,
    /// The model name upstream.
    #[arg(long)]
    upstream_model: String,
    /// The environment variable holding its API key.
    #[arg(long)]
    credential_env: Option<String>,
    /// Share of the model's traffic.
    #[arg(long, default_value_t = 1)]
    weight: u32,
    /// Milliseconds to the first byte, and between streamed chunks.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 100)]
    max_in_flight: u32,
    #[command(flatten)]
    out: Output,
}

fn parse_kind(text: &str) -> Result<ModelKind, String> {
    ModelKind::parse(text).ok_or_else(|| format!("`{text}` is not chat or embedding"))
}

fn failed(err: impl std::fmt::Display) -> CliError {
    CliError::new(err.to_string())
}

/// Runs a `tf` command as the console operator.
pub async fn run(
    catalog: &dyn Catalog,
    demo: &DemoHandles<'_>,
    command: &TfCommand,
) -> Result<(), CliError> {
    let caller = Caller::operator();
    match command {
        TfCommand::Model(command) => run_model(catalog, &caller, command).await,
        TfCommand::Endpoint(command) => run_endpoint(catalog, &caller, command).await,
        TfCommand::Demo {
            if_absent,
            base_url,
            out,
        } => demo::run(demo, *if_absent, base_url.as_deref(), out).await,
    }
}

async fn run_model(
    catalog: &dyn Catalog,
    caller: &Caller,
    command: &ModelCommand,
) -> Result<(), CliError> {
    match command {
        ModelCommand::Add(add) => {
            let view = catalog
                .add_model(caller, new_model(add))
                .await
                .map_err(failed)?;
            print(&add.out, &view, &text::model(&view))
        }
        ModelCommand::List(out) => {
            let mut all = Vec::new();
            loop {
                let page = catalog
                    .models(
                        caller,
                        all.last().map(|m: &super::ModelView| m.id.clone()),
                        PAGE,
                    )
                    .await
                    .map_err(failed)?;
                let done = page.len() < PAGE;
                all.extend(page);
                if done {
                    break;
                }
            }
            print(out, &all, &text::models(&all))
        }
        ModelCommand::Show { id, out } => {
            let view = catalog.model(caller, id).await.map_err(failed)?;
            print(out, &view, &text::model(&view))
        }
        ModelCommand::Enable { id, out } | ModelCommand::Disable { id, out } => {
            let enable = matches!(command, ModelCommand::Enable { .. });
            let view = catalog
                .set_enabled(caller, id, enable)
                .await
                .map_err(failed)?;
            print(out, &view, &format!("model {} is {}", view.id, view.state))
        }
    }
}

fn new_model(add: &AddModel) -> NewModel {
    let endpoints = add
        .base_url
        .iter()
        .map(|url| NewEndpoint {
            name: "primary".into(),
            base_url: url.clone(),
            upstream_model: add.upstream_model.clone().unwrap_or_else(|| add.id.clone()),
            credential_env: add.credential_env.clone(),
            weight: 1,
            timeout_ms: 30_000,
            max_in_flight: 100,
        })
        .collect();
    NewModel {
        id: add.id.clone(),
        display_name: add.display_name.clone().unwrap_or_else(|| add.id.clone()),
        kind: add.kind,
        context_length: add.context_length,
        max_output_tokens: add.max_output_tokens,
        fallbacks: add.fallbacks.clone(),
        premium: add.premium,
        endpoints,
    }
}

async fn run_endpoint(
    catalog: &dyn Catalog,
    caller: &Caller,
    command: &EndpointCommand,
) -> Result<(), CliError> {
    match command {
        EndpointCommand::Add(add) => {
            let endpoint = NewEndpoint {
                name: add.name.clone(),
                base_url: add.base_url.clone(),
                upstream_model: add.upstream_model.clone(),
                credential_env: add.credential_env.clone(),
                weight: add.weight,
                timeout_ms: add.timeout_ms,
                max_in_flight: add.max_in_flight,
            };
            let view = catalog
                .add_endpoint(caller, &add.model, endpoint)
                .await
                .map_err(failed)?;
            print(&add.out, &view, &text::model(&view))
        }
        EndpointCommand::Remove { model, name, out } => {
            let view = catalog
                .remove_endpoint(caller, model, name)
                .await
                .map_err(failed)?;
            print(out, &view, &text::model(&view))
        }
    }
}
