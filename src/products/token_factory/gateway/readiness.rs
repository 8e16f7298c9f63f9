//! Whether the gateway may serve: every registry entry its request path names (scopes,
//! usage units, the model resource type, the quota dimensions) must be active. While one
//! is not, `/v1` answers 503 and `/readyz` says which.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::kit::http::health::Ready;
use crate::platform::registry::Registry;

use super::admit::{CONCURRENT, MONTHLY, RPM, TPM};
use super::finish::{INPUT_TOKENS, MODEL_RESOURCE, OUTPUT_TOKENS, REQUESTS};
use crate::products::token_factory::{INFERENCE, MODELS_READ};

/// (family, id) of every entry the request path needs.
const REQUIRED: &[(&str, &str)] = &[
    ("scope", INFERENCE),
    ("scope", MODELS_READ),
    ("usage_unit", INPUT_TOKENS),
    ("usage_unit", OUTPUT_TOKENS),
    ("usage_unit", REQUESTS),
    ("resource_type", MODEL_RESOURCE),
    ("quota_dimension", RPM),
    ("quota_dimension", TPM),
    ("quota_dimension", CONCURRENT),
    ("quota_dimension", MONTHLY),
];

/// The answer, recomputed only when the registry's active set changes.
pub struct Readiness {
    registry: Arc<dyn Registry>,
    cached: ArcSwap<(u64, Option<Arc<str>>)>,
}

impl Readiness {
    /// Readiness as `registry` decides it.
    pub fn new(registry: Arc<dyn Registry>) -> Readiness {
        Readiness {
            registry,
            cached: ArcSwap::from_pointee((u64::MAX, None)),
        }
    }

    /// Why the gateway may not serve, if it may not.
    pub fn blocked(&self) -> Option<Arc<str>> {
        let generation = self.registry.generation();
        let cached = self.cached.load();
        if cached.0 == generation {
            return cached.1.clone();
        }
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|(family, id)| !self.registry.is_active(family, id))
            .map(|(family, id)| format!("{family} {id}"))
            .collect();
        let reason: Option<Arc<str>> = missing.first().map(|first| {
            format!(
                "Token Factory is not onboarded: {} of its registry entries are not active \
                 (first: {first}); run `aicloud product onboard config/products/token-factory.toml`",
                missing.len()
            )
            .into()
        });
        self.cached.store(Arc::new((generation, reason.clone())));
        reason
    }
}

impl Ready for Readiness {
    fn not_ready(&self) -> Option<String> {
        self.blocked().map(|r| r.to_string())
    }
}
