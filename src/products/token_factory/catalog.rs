//! The catalog in memory: every model with its guards and endpoints, as each process's
//! gateway reads it on every request (a NOTIFY-refreshed snapshot, see `store`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::ModelKind;

/// The whole catalog.
#[derive(Debug, Default)]
pub struct Book {
    /// Models by id.
    pub models: HashMap<String, Arc<Model>>,
}

impl Book {
    /// The model `id`, enabled or not.
    pub fn model(&self, id: &str) -> Option<&Arc<Model>> {
        self.models.get(id)
    }

    /// The model `id` when it is enabled and of `kind`.
    pub fn serving(&self, id: &str, kind: ModelKind) -> Option<&Arc<Model>> {
        self.models.get(id).filter(|m| m.enabled && m.kind == kind)
    }
}

/// One model.
#[derive(Debug)]
pub struct Model {
    /// The id clients name.
    pub id: Arc<str>,
    /// Name for people.
    pub display_name: String,
    /// chat or embedding.
    pub kind: ModelKind,
    /// Input plus output tokens.
    pub context_length: u64,
    /// Most output tokens per request.
    pub max_output_tokens: u64,
    /// Fallback models, in order.
    pub fallbacks: Vec<String>,
    /// Needs the premium entitlement.
    pub premium: bool,
    /// Serving.
    pub enabled: bool,
    /// Endpoints, in the order they were registered.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Added.
    pub created_at: OffsetDateTime,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// Where an endpoint's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The built-in demo upstream's chat model, in process.
    DemoEcho,
    /// The built-in demo upstream's embeddings model, in process.
    DemoEmbed,
    /// An OpenAI-compatible server: the base URL without its trailing slash.
    Http(String),
}

impl Target {
    /// The target a stored base URL names, if it names one.
    pub fn of(base_url: &str) -> Option<Target> {
        match base_url {
            "demo://echo" => Some(Target::DemoEcho),
            "demo://embed" => Some(Target::DemoEmbed),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Some(Target::Http(url.trim_end_matches('/').to_owned()))
            }
            _ => None,
        }
    }
}

/// One upstream endpoint of a model.
#[derive(Debug)]
pub struct Endpoint {
    /// Id (health and in-flight counts are kept by it across reloads).
    pub id: Uuid,
    /// Name within its model.
    pub name: Arc<str>,
    /// As stored.
    pub base_url: String,
    /// Where requests go.
    pub target: Target,
    /// The upstream's model name.
    pub upstream_model: String,
    /// Environment variable holding its credential.
    pub credential_env: Option<String>,
    /// Share of its model's traffic.
    pub weight: u32,
    /// Time to the first byte, and between chunks.
    pub timeout: Duration,
    /// Most requests in flight.
    pub max_in_flight: u32,
}
