//! The end of a request: usage into billing (the request id its idempotency key, retried
//! with the same ids), the hold settled or released, the admission corrected to what was
//! used, and the analytics record queued. Runs exactly once per admitted request, whether
//! it completed, failed or lost its client.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use time::OffsetDateTime;

use super::admit::{MONTHLY, RPM, TPM};
use super::{Gateway, Ticket};
use crate::platform::billing::{Estimate, Outcome, UsageActor, UsageActorKind, UsageEvent};
use crate::platform::iam::Caller;
use crate::platform::policy::Delta;
use crate::products::token_factory::PRODUCT;
use crate::products::token_factory::catalog::Model;
use crate::products::token_factory::metrics::Finished;
use crate::products::token_factory::store::analytics::Record;
use crate::products::token_factory::tokens;
use crate::products::token_factory::wire::OpenAiError;

/// Prompt tokens (usage unit).
pub const INPUT_TOKENS: &str = "token_factory.input_tokens";
/// Generated tokens (usage unit).
pub const OUTPUT_TOKENS: &str = "token_factory.output_tokens";
/// Requests that reached an upstream (usage unit).
pub const REQUESTS: &str = "token_factory.requests";
/// The resource type usage and limits are per.
pub const MODEL_RESOURCE: &str = "token_factory.model";
/// What measured the usage.
const USAGE_SOURCE: &str = "token_factory.gateway";

/// What a request produced, as the gateway saw it.
#[derive(Debug, Clone, Default)]
pub struct Produced {
    /// The endpoint that served it, `model/endpoint`.
    pub endpoint: Option<String>,
    /// Whether an upstream answered with output (anything is billed at all).
    pub billable: bool,
    /// Usage the upstream reported: (prompt, completion).
    pub reported: Option<(u64, u64)>,
    /// The output it relayed, counted when it finishes.
    pub output: Output,
    /// Status the client saw.
    pub status: u16,
    /// Error code the client saw.
    pub error_code: Option<&'static str>,
    /// Time from arrival to the first chunk relayed (streams).
    pub first_token: Option<Duration>,
    /// Time spent waiting on upstreams.
    pub upstream_time: Duration,
}

/// The output a request relayed, for the gateway's own count of its tokens. It is counted
/// in `finish`, not where it was read: a long text takes tiktoken milliseconds, which
/// `tokens::count_all` spends off the HTTP workers.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Each choice's text, or a stream's whole text.
    pub texts: Vec<String>,
    /// Bytes beyond what was kept for counting, taken at 4 a token.
    pub overflow_bytes: usize,
}

impl Output {
    async fn tokens(self) -> u64 {
        let overflow = u64::try_from(self.overflow_bytes / 4).unwrap_or(u64::MAX);
        tokens::count_all(self.texts).await.saturating_add(overflow)
    }
}

/// Estimates of a request's usage, for the spend guard.
pub fn estimates(model: &Model, input: u64, output: u64, requests: Decimal) -> Vec<Estimate> {
    [
        (INPUT_TOKENS, Decimal::from(input)),
        (OUTPUT_TOKENS, Decimal::from(output)),
        (REQUESTS, requests),
    ]
    .into_iter()
    .map(|(unit, quantity)| Estimate {
        product: PRODUCT.into(),
        unit: unit.into(),
        resource_type: MODEL_RESOURCE.into(),
        resource_id: model.id.to_string(),
        quantity,
    })
    .collect()
}

impl Gateway {
    /// Ends `ticket` in the background (`usage_commit = "after_response"`). At most
    /// `token_factory.max_pending_commits` wait at once: past that, the response waits for a
    /// place, so a billing slower than the traffic slows the traffic instead of filling memory.
    pub async fn finish_later(self: &Arc<Self>, ticket: Ticket, produced: Produced) {
        let place = Arc::clone(&self.pending_commits).acquire_owned().await;
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            let _ = gateway.finish(ticket, produced).await;
            drop(place);
        });
    }

    /// Ends `ticket` with what it produced. An error means the usage could not be
    /// committed: the caller answers it instead of success.
    pub async fn finish(
        &self,
        mut ticket: Ticket,
        mut produced: Produced,
    ) -> Result<(), OpenAiError> {
        let counted = std::mem::take(&mut produced.output).tokens().await;
        let (input, output) = match produced.billable {
            true => billed(&ticket, &produced, counted),
            false => (0, 0),
        };
        let committed = match produced.billable {
            true => self.commit(&ticket, &produced, input, output).await,
            false => Ok(()),
        };
        let used = if committed.is_ok() { input + output } else { 0 };
        if let Some(admission) = ticket.admission.as_mut() {
            admission.correct(&[delta(RPM, 1), delta(TPM, used), delta(MONTHLY, used)]);
        }
        if let Some(hold) = ticket.hold.take() {
            match produced.billable && committed.is_ok() {
                true => {
                    let actual = estimates(&ticket.model, input, output, Decimal::ONE);
                    self.with.spend.settle(hold, &actual);
                }
                false => self.with.spend.release(hold),
            }
        }
        let status = if committed.is_err() {
            503
        } else {
            produced.status
        };
        let mut record = record(&ticket, &produced, (input, output, counted), status);
        record.metered = produced.billable && committed.is_ok();
        self.metrics.finished(&Finished {
            model: &ticket.model.id,
            status,
            latency: ticket.started.elapsed(),
            overhead: Duration::from_micros(u64::try_from(record.overhead_us).unwrap_or(0)),
            first_token: produced.first_token,
            tokens: (input, output),
        });
        self.analytics.record(record);
        drop(ticket);
        committed
    }

    async fn commit(
        &self,
        ticket: &Ticket,
        produced: &Produced,
        input: u64,
        output: u64,
    ) -> Result<(), OpenAiError> {
        let events = usage_events(ticket, produced, input, output);
        let caller = Caller::Console(USAGE_SOURCE.into());
        let attempts = self.settings.commit_attempts.max(1);
        for attempt in 1..=attempts {
            match self.with.metering.capture(&caller, events.clone()).await {
                Ok(outcomes) => {
                    if let Some(bad) = outcomes.iter().find(|o| o.outcome == Outcome::Rejected) {
                        log::error!(
                            "usage of request {} was rejected by billing: {}",
                            ticket.request_id,
                            bad.reason.as_deref().unwrap_or("no reason")
                        );
                        break;
                    }
                    return Ok(());
                }
                Err(err) => {
                    log::warn!(
                        "usage of request {} not committed (attempt {attempt}): {err}",
                        ticket.request_id
                    );
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
            }
        }
        Err(OpenAiError::unavailable(
            "The request's usage could not be recorded, so its result is withheld. Please try again later.",
        ))
    }
}

/// Input and output to bill: the upstream's report where it gave one, else the counts.
fn billed(ticket: &Ticket, produced: &Produced, counted_output: u64) -> (u64, u64) {
    match produced.reported {
        Some((prompt, completion)) => (prompt, completion),
        None => (ticket.input_tokens, counted_output),
    }
}

fn delta(dimension: &str, amount: u64) -> Delta {
    Delta {
        dimension: dimension.into(),
        amount,
    }
}

fn usage_events(ticket: &Ticket, produced: &Produced, input: u64, output: u64) -> Vec<UsageEvent> {
    let p = &ticket.principal;
    let correlation = ticket.correlation_id.clone();
    let mut attributes = serde_json::Map::new();
    attributes.insert("request_id".into(), ticket.request_id.clone().into());
    attributes.insert("endpoint".into(), produced.endpoint.clone().into());
    attributes.insert("estimated".into(), produced.reported.is_none().into());
    attributes.insert("route".into(), ticket.route.path().into());
    let now = OffsetDateTime::now_utc();
    [
        ("input", INPUT_TOKENS, input),
        ("output", OUTPUT_TOKENS, output),
        ("request", REQUESTS, 1),
    ]
    .into_iter()
    .filter(|(part, _, quantity)| *quantity > 0 || *part == "request")
    .map(|(part, unit, quantity)| UsageEvent {
        event_id: format!("{}:{part}", ticket.request_id),
        product: PRODUCT.into(),
        unit: unit.into(),
        quantity: Decimal::from(quantity),
        organization_id: p.organization_id,
        department_id: p.department_id,
        project_id: p.project_id,
        actor: UsageActor {
            kind: UsageActorKind::ApiKey,
            id: p.key_prefix.clone(),
        },
        resource_type: MODEL_RESOURCE.into(),
        resource_id: ticket.model.id.to_string(),
        usage_source: USAGE_SOURCE.into(),
        occurred_at: now,
        correlation_id: correlation.clone(),
        attributes: attributes.clone(),
    })
    .collect()
}

/// The request's analytics row, with the input and output billed and the output the
/// gateway counted.
fn record(
    ticket: &Ticket,
    produced: &Produced,
    (input, output, counted_output): (u64, u64, u64),
    status: u16,
) -> Record {
    let latency = ticket.started.elapsed();
    let p = &ticket.principal;
    let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    Record {
        request_id: ticket.request_id.clone(),
        occurred_at: OffsetDateTime::now_utc(),
        organization_id: p.organization_id,
        department_id: p.department_id,
        project_id: p.project_id,
        key_prefix: p.key_prefix.clone(),
        route: ticket.route.path(),
        model: Arc::clone(&ticket.model.id),
        endpoint: produced.endpoint.clone(),
        status,
        error_code: produced.error_code,
        stream: ticket.stream,
        input_tokens: input,
        output_tokens: output,
        estimated: produced.reported.is_none(),
        reported: produced.reported,
        counted: (ticket.input_tokens, counted_output),
        latency_us: micros(latency),
        overhead_us: micros(latency.saturating_sub(produced.upstream_time)),
        first_token_us: produced.first_token.map(micros),
        metered: false,
    }
}

/// A request refused after its key was known, before any upstream.
pub struct Refused<'a> {
    /// Its principal.
    pub principal: &'a crate::platform::iam::Principal,
    /// The gateway's id for it.
    pub request_id: &'a str,
    /// When it arrived.
    pub started: std::time::Instant,
    /// Which route.
    pub route: crate::products::token_factory::upstream::Route,
    /// The model it named, as far as it could be read.
    pub model: &'a str,
    /// Why.
    pub error: &'a OpenAiError,
}

impl Gateway {
    /// Records a refusal in analytics (metrics count it as a rejection).
    pub fn record_refusal(&self, r: &Refused<'_>) {
        let p = r.principal;
        let latency = i64::try_from(r.started.elapsed().as_micros()).unwrap_or(i64::MAX);
        let model: String = r
            .model
            .chars()
            .take(96)
            .filter(|c| !c.is_control())
            .collect();
        self.analytics.record(Record {
            request_id: r.request_id.to_owned(),
            occurred_at: OffsetDateTime::now_utc(),
            organization_id: p.organization_id,
            department_id: p.department_id,
            project_id: p.project_id,
            key_prefix: p.key_prefix.clone(),
            route: r.route.path(),
            model: model.into(),
            endpoint: None,
            status: r.error.status.as_u16(),
            error_code: Some(r.error.reason()),
            stream: false,
            input_tokens: 0,
            output_tokens: 0,
            estimated: false,
            reported: None,
            counted: (0, 0),
            latency_us: latency,
            overhead_us: latency,
            first_token_us: None,
            metered: false,
        });
    }
}
