//! The request path, from bearer key to settled usage. Each step is a file:
//! `admit` (key, scope, model, guards, policy, spend), `forward` (endpoints in turn, before
//! the first byte reaches the client), `relay` and `chunk` (a stream passed through as it arrives, event by event),
//! `whole` and `answer` (an answer read whole, off the workers when it is large), `finish`
//! (usage committed to billing, the hold settled, the admission corrected, the analytics
//! record), `limits` (the `x-ratelimit-*` headers).

pub mod admit;
pub mod answer;
pub mod chunk;
pub mod finish;
pub mod forward;
pub mod limits;
pub mod readiness;
pub mod relay;
pub mod whole;

use std::sync::Arc;
use std::time::Instant;

use crate::base::config::{TokenFactorySettings, UsageCommit};
use crate::base::db::snapshot::Snapshot;
use crate::platform::billing::Hold;
use crate::platform::iam::Principal;
use crate::platform::policy::Admission;

use super::catalog::{Book, Model};
use super::metrics::{InFlight, Metrics};
use super::store::Collaborators;
use super::store::analytics::Sink;
use super::upstream::{Route, Upstreams};
use limits::RateHeaders;

/// Everything one request holds from admission to its end.
pub struct Ticket {
    /// The gateway's id for the request (`x-request-id`, the usage idempotency key).
    pub request_id: String,
    /// When the gateway began serving it.
    pub started: Instant,
    /// The key's principal.
    pub principal: Principal,
    /// The model asked for.
    pub model: Arc<Model>,
    /// Which route.
    pub route: Route,
    /// Streamed.
    pub stream: bool,
    /// Input tokens as the gateway counted them.
    pub input_tokens: u64,
    /// Output tokens reserved (all choices).
    pub reserved_output: u64,
    /// The policy admission (frees its concurrency slot when dropped).
    pub admission: Option<Admission>,
    /// The spend hold (released when dropped).
    pub hold: Option<Hold>,
    /// The limit headers of its decision.
    pub limits: RateHeaders,
    /// Counted in flight until the ticket is gone.
    pub in_flight: InFlight,
    /// The request's correlation id, taken while it is served: the ticket may finish on a
    /// task of its own (after the response, or after the client left), which has none.
    pub correlation_id: Option<String>,
}

/// The gateway: the handles it works through, the catalog, the upstreams.
pub struct Gateway {
    pub(crate) with: Collaborators,
    pub(crate) book: Snapshot<Book>,
    pub(crate) upstreams: Arc<Upstreams>,
    pub(crate) settings: TokenFactorySettings,
    pub(crate) analytics: Sink,
    pub(crate) readiness: Arc<readiness::Readiness>,
    pub(crate) metrics: Metrics,
    /// Places for commits running after their response (see [`Gateway::finish_later`]).
    pub(crate) pending_commits: Arc<tokio::sync::Semaphore>,
}

impl Gateway {
    /// Whether usage is committed before the response completes (the default).
    pub fn commits_before_response(&self) -> bool {
        self.settings.usage_commit == UsageCommit::BeforeResponse
    }
}

/// A fresh request id in OpenAI's form, `req_` and 32 hex digits (time-ordered).
pub fn request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}
