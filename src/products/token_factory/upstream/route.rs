//! The order a request tries endpoints in: the model's endpoints from a weighted pick
//! onwards, then each fallback model's, skipping what is out of rotation or full.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::products::token_factory::catalog::{Book, Endpoint, Model};

/// Most endpoints one request tries.
pub const MAX_ATTEMPTS: usize = 8;

/// Spreads picks over weights; shared by every request of the process.
static TURN: AtomicU64 = AtomicU64::new(0);

/// The candidates for `model`: (the model that serves, its endpoint).
pub fn candidates(book: &Book, model: &Arc<Model>) -> Vec<(Arc<Model>, Arc<Endpoint>)> {
    let mut out = Vec::new();
    push_weighted(model, &mut out);
    for id in &model.fallbacks {
        if let Some(fallback) = book.serving(id, model.kind) {
            push_weighted(fallback, &mut out);
        }
    }
    out.truncate(MAX_ATTEMPTS);
    out
}

/// The model's endpoints, starting at one picked in proportion to weight.
fn push_weighted(model: &Arc<Model>, out: &mut Vec<(Arc<Model>, Arc<Endpoint>)>) {
    let endpoints = &model.endpoints;
    if endpoints.is_empty() {
        return;
    }
    let total: u64 = endpoints.iter().map(|e| u64::from(e.weight)).sum();
    let mut ticket = TURN.fetch_add(1, Ordering::Relaxed) % total.max(1);
    let start = endpoints
        .iter()
        .position(|e| {
            let w = u64::from(e.weight);
            if ticket < w {
                return true;
            }
            ticket -= w;
            false
        })
        .unwrap_or(0);
    for i in 0..endpoints.len() {
        let endpoint = &endpoints[(start + i) % endpoints.len()];
        out.push((Arc::clone(model), Arc::clone(endpoint)));
    }
}
