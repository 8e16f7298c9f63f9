//! Admission: who is calling (the IAM read model), whether they may (the inference scope),
//! which model serves and whether the request fits it, whether policy admits it, and
//! whether the organization's funds cover its worst case. All from memory.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use rust_decimal::Decimal;

use super::finish::estimates;
use super::limits::RateHeaders;
use super::{Gateway, Ticket};
use crate::platform::billing::SpendRefusal;
use crate::platform::iam::{OrganizationId, Principal, ProjectId};
use crate::platform::policy::{Decision, DecisionInput, Delta, Reason, Resource};
use crate::products::token_factory::catalog::Model;
use crate::products::token_factory::upstream::Route;
use crate::products::token_factory::wire::{OpenAiError, Output};
use crate::products::token_factory::{ModelKind, PRODUCT};

/// Requests per minute (the packet's dimension).
pub const RPM: &str = "token_factory.requests_per_minute";
/// Tokens per minute: input plus the output reserved.
pub const TPM: &str = "token_factory.tokens_per_minute";
/// Requests in flight.
pub const CONCURRENT: &str = "token_factory.concurrent_requests";
/// Input plus output tokens per month.
pub const MONTHLY: &str = "token_factory.monthly_tokens";
/// The organization may use Token Factory (the packet's entitlement).
pub const ACCESS: &str = "token_factory.access";
/// The project may call inference routes.
pub const PROJECT_INFERENCE: &str = "token_factory.project_inference";
/// The project may use models marked premium.
pub const PREMIUM_MODELS: &str = "token_factory.premium_models";

/// What every inference request needs, and a premium model's request in addition; shared
/// so a decision copies no names.
static ENTITLEMENTS: LazyLock<[Arc<str>; 3]> =
    LazyLock::new(|| [ACCESS, PROJECT_INFERENCE, PREMIUM_MODELS].map(Arc::from));

/// The entitlements a request for `model` needs.
fn entitlements_for(model: &Model) -> Vec<Arc<str>> {
    let needed = if model.premium { 3 } else { 2 };
    ENTITLEMENTS[..needed].to_vec()
}

/// What a request asks of a model, once counted, and when it arrived.
pub struct Asked {
    /// The gateway's id for it.
    pub request_id: String,
    /// When it arrived.
    pub started: Instant,
    /// Model id.
    pub model: String,
    /// Input tokens.
    pub input: u64,
    /// Output parameters.
    pub output: Output,
    /// Parameter named by length errors.
    pub input_param: &'static str,
    /// Streamed.
    pub stream: bool,
}

impl Gateway {
    /// The principal behind the request's bearer key, holding `scope` in its project.
    pub fn authenticate(&self, req: &HttpRequest, scope: &str) -> Result<Principal, OpenAiError> {
        if let Some(reason) = self.readiness.blocked() {
            return Err(OpenAiError::unavailable(reason.to_string()));
        }
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let bearer = match header.and_then(|h| h.strip_prefix("Bearer ")) {
            Some(b) if !b.trim().is_empty() => b.trim(),
            _ => return Err(OpenAiError::no_key()),
        };
        let principal = self
            .with
            .keys
            .authenticate(bearer)
            .map_err(|_| OpenAiError::bad_key(bearer))?;
        let decision = self.with.keys.decide(
            &principal,
            scope,
            OrganizationId(principal.organization_id),
            Some(ProjectId(principal.project_id)),
        );
        match decision.allow {
            true => Ok(principal),
            false => Err(OpenAiError::missing_scope(scope)),
        }
    }

    /// The enabled model `id` of `kind`, when the key may use it.
    pub fn place(
        &self,
        principal: &Principal,
        id: &str,
        kind: ModelKind,
    ) -> Result<Arc<Model>, OpenAiError> {
        let book = self.book.get();
        let allowed = principal
            .model_allowlist
            .as_ref()
            .is_none_or(|list| list.iter().any(|m| m == id));
        match book.model(id).filter(|m| m.enabled && allowed) {
            Some(model) if model.kind == kind => Ok(Arc::clone(model)),
            Some(_) => Err(OpenAiError::wrong_kind(id, kind)),
            None => Err(OpenAiError::model_not_found(id)),
        }
    }

    /// Whether the principal's project holds what `model` needs (listing it, not serving).
    pub fn may_use(&self, principal: &Principal, model: &Model) -> bool {
        let (org, project) = (
            OrganizationId(principal.organization_id),
            ProjectId(principal.project_id),
        );
        entitlements_for(model)
            .iter()
            .all(|e| self.with.decisions.holds(org, project, e))
    }

    /// The output to reserve (all choices), refusing what does not fit the model.
    pub fn guard(&self, model: &Model, asked: &Asked) -> Result<u64, OpenAiError> {
        let Output {
            asked: wanted,
            param,
            choices,
        } = asked.output;
        if let Some(n) = wanted.filter(|n| *n > model.max_output_tokens) {
            return Err(OpenAiError::invalid(
                param,
                Some("invalid_value"),
                format!(
                    "{param} is too large: {n}. This model supports at most {} completion tokens, whereas you provided {n}.",
                    model.max_output_tokens
                ),
            ));
        }
        let room = model.context_length.saturating_sub(asked.input);
        let output = wanted.unwrap_or(model.max_output_tokens.min(room));
        if asked.input + output > model.context_length || (asked.input >= model.context_length) {
            return Err(OpenAiError::context_length(
                asked.input_param,
                model.context_length,
                asked.input,
                output,
            ));
        }
        Ok(output.saturating_mul(choices.max(1)))
    }

    /// Admits the request: policy over requests, tokens, concurrency and monthly tokens, then
    /// a hold on the worst-case cost. A refusal takes nothing.
    pub fn admit(
        &self,
        principal: Principal,
        model: Arc<Model>,
        route: Route,
        asked: &Asked,
        reserved_output: u64,
    ) -> Result<Ticket, OpenAiError> {
        let tokens = asked.input.saturating_add(reserved_output);
        let input = DecisionInput {
            organization: OrganizationId(principal.organization_id),
            project: ProjectId(principal.project_id),
            principal: Some(principal.id),
            api_key: Some(principal.key_prefix.clone()),
            product: PRODUCT.into(),
            resource: Some(Resource {
                resource_type: super::finish::MODEL_RESOURCE.into(),
                id: model.id.to_string(),
            }),
            action: Some(route.path().into()),
            deltas: vec![
                delta(RPM, 1),
                delta(TPM, tokens),
                delta(CONCURRENT, 1),
                delta(MONTHLY, tokens),
            ],
            entitlements: entitlements_for(&model),
        };
        let (decision, admission) = self.with.decisions.decide(&input);
        let limits = RateHeaders::of(&decision);
        if !decision.admitted() {
            return Err(refusal(&decision, &model, &limits));
        }
        let worst = estimates(&model, asked.input, reserved_output, Decimal::ONE);
        let hold = self
            .with
            .spend
            .reserve(input.organization, input.project, &worst)
            .map_err(|refused| spend_refusal(&refused))?;
        Ok(Ticket {
            request_id: asked.request_id.clone(),
            started: asked.started,
            principal,
            model,
            route,
            stream: asked.stream,
            input_tokens: asked.input,
            reserved_output,
            admission,
            hold: Some(hold),
            limits,
            in_flight: self.metrics.in_flight(),
            correlation_id: crate::base::context::current()
                .map(|c| c.correlation_id)
                .filter(|c| !c.is_empty()),
        })
    }
}

fn delta(dimension: &str, amount: u64) -> Delta {
    Delta {
        dimension: dimension.into(),
        amount: amount.min(crate::platform::policy::MAX_AMOUNT),
    }
}

/// The OpenAI error for a policy refusal.
fn refusal(decision: &Decision, model: &Model, limits: &RateHeaders) -> OpenAiError {
    let dimension = decision.dimension.as_deref().unwrap_or("");
    let rate_kind = if dimension == TPM {
        "tokens"
    } else {
        "requests"
    };
    let err = match decision.reason {
        Reason::RateLimited | Reason::ConcurrencyExhausted => {
            let wait = decision.retry_after_ms.unwrap_or(1000);
            let message = format!(
                "Rate limit reached for {} on {}: {} Please try again in {wait}ms.",
                model.id,
                describe(dimension),
                decision.message
            );
            OpenAiError::rate_limited(rate_kind, message)
                .with_header("retry-after", &wait.div_ceil(1000).max(1).to_string())
                .with_header("retry-after-ms", &wait.to_string())
        }
        Reason::HardDeny if dimension == TPM || dimension == RPM => OpenAiError::rate_limited(
            rate_kind,
            format!(
                "Request too large for {} on {}: {} The input or output tokens must be reduced in order to run successfully.",
                model.id,
                describe(dimension),
                decision.message
            ),
        )
        .with_header("x-should-retry", "false"),
        Reason::QuotaExhausted | Reason::HardDeny => OpenAiError::insufficient_quota(format!(
            "You exceeded your current quota, please check your plan and billing details. ({})",
            decision.message
        )),
        Reason::EntitlementMissing => match decision.entitlement.as_deref() {
            Some(PREMIUM_MODELS) | None => OpenAiError::not_entitled(&model.id),
            Some(other) => OpenAiError::project_not_entitled(other),
        },
        Reason::StaleSnapshot | Reason::NoCapacity => {
            OpenAiError::unavailable(format!("The engine is currently overloaded, please try again later. ({})", decision.message))
                .with_header("retry-after", "1")
        }
        Reason::Allowed | Reason::NearLimit => OpenAiError::internal(),
    };
    limits.apply(err)
}

fn describe(dimension: &str) -> &'static str {
    match dimension {
        TPM => "tokens per min (TPM)",
        RPM => "requests per min (RPM)",
        CONCURRENT => "concurrent requests",
        MONTHLY => "tokens per month",
        _ => "a limit",
    }
}

/// The OpenAI error for a refused hold: no funds is a quota error retrying cannot fix.
fn spend_refusal(refused: &SpendRefusal) -> OpenAiError {
    match refused {
        SpendRefusal::Insufficient { .. } => OpenAiError::insufficient_quota(
            "You exceeded your current quota, please check your plan and billing details: the organization's balance does not cover this request.".into(),
        ),
        SpendRefusal::Unpriced(what) => {
            log::warn!("a request was refused because no price covers {what}");
            OpenAiError::unavailable("This model has no price yet, so requests to it cannot be accepted; an operator must publish its price.")
                .with_header("x-should-retry", "false")
        }
    }
}
