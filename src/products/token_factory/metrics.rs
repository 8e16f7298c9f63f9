//! The gateway's Prometheus metrics: requests by model and status, latency, gateway
//! overhead and time to first token, tokens in and out, rejections by reason, upstream
//! errors by endpoint, and requests in flight.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    model: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Tokens {
    model: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Upstream {
    endpoint: String,
    kind: &'static str,
}

type Histograms = Family<ModelLabel, Histogram, fn() -> Histogram>;

/// Seconds, from 100 µs to about 100 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.5, 16))
}

/// Every gateway metric (cheap to clone: each is shared).
#[derive(Clone)]
pub struct Metrics {
    requests: Family<Outcome, Counter>,
    latency: Histograms,
    overhead: Histogram,
    first_token: Histograms,
    tokens: Family<Tokens, Counter>,
    rejections: Family<Reason, Counter>,
    upstream_errors: Family<Upstream, Counter>,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(seconds),
            overhead: seconds(),
            first_token: Family::new_with_constructor(seconds),
            tokens: Family::default(),
            rejections: Family::default(),
            upstream_errors: Family::default(),
            in_flight: Gauge::default(),
        }
    }
}

/// A request counted in flight until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One finished request, as metrics see it.
pub struct Finished<'a> {
    /// Model asked for.
    pub model: &'a str,
    /// Status the client saw.
    pub status: u16,
    /// Total time.
    pub latency: Duration,
    /// Time not spent waiting on the upstream.
    pub overhead: Duration,
    /// Time to the first streamed token.
    pub first_token: Option<Duration>,
    /// Tokens billed in and out.
    pub tokens: (u64, u64),
}

impl Metrics {
    /// Registers every metric under `token_factory_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("token_factory");
        r.register(
            "requests",
            "Requests answered, by model and HTTP status",
            self.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from arrival to the last byte, by model",
            self.latency.clone(),
        );
        r.register(
            "gateway_overhead_seconds",
            "Time a request spent in the gateway rather than waiting on its upstream",
            self.overhead.clone(),
        );
        r.register(
            "time_to_first_token_seconds",
            "Time from arrival to the first streamed chunk, by model",
            self.first_token.clone(),
        );
        r.register(
            "tokens",
            "Tokens billed, by model and direction (input, output)",
            self.tokens.clone(),
        );
        r.register(
            "rejections",
            "Requests refused before reaching an upstream, by reason",
            self.rejections.clone(),
        );
        r.register(
            "upstream_errors",
            "Upstream failures, by endpoint and kind",
            self.upstream_errors.clone(),
        );
        r.register(
            "in_flight",
            "Requests being served now",
            self.in_flight.clone(),
        );
    }

    /// Counts a request in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Records a finished request.
    pub fn finished(&self, f: &Finished<'_>) {
        let model = f.model.to_owned();
        self.requests
            .get_or_create(&Outcome {
                model: model.clone(),
                status: f.status,
            })
            .inc();
        let label = ModelLabel {
            model: model.clone(),
        };
        self.latency
            .get_or_create(&label)
            .observe(f.latency.as_secs_f64());
        self.overhead.observe(f.overhead.as_secs_f64());
        if let Some(first) = f.first_token {
            self.first_token
                .get_or_create(&label)
                .observe(first.as_secs_f64());
        }
        for (direction, n) in [("input", f.tokens.0), ("output", f.tokens.1)] {
            if n > 0 {
                self.tokens
                    .get_or_create(&Tokens {
                        model: model.clone(),
                        direction,
                    })
                    .inc_by(n);
            }
        }
    }

    /// Records a refusal before any upstream (`reason`: the OpenAI code or type).
    pub fn rejected(&self, reason: &'static str) {
        self.rejections.get_or_create(&Reason { reason }).inc();
    }

    /// Records an upstream failure.
    pub fn upstream_error(&self, endpoint: &str, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&Upstream {
                endpoint: endpoint.to_owned(),
                kind,
            })
            .inc();
    }
}
