//! `/api/v1/billing`: usage ingestion, price books, balances, credits, the journal, and
//! the card processor's webhook. Handlers parse, make one trait call and map; billing
//! authorizes every call itself (the webhook by its signature).

mod ledger;
mod money;
mod usage;

use utoipa_actix_web::service_config::ServiceConfig;

pub(super) use ledger::csv_download;
use ledger::{journal, org_journal, reconciliation, statement};
use money::{
    balance, credit_line, grant, list_prices, refund, reverse, set_price, stripe_webhook, top_up,
};
use usage::{ingest, preview, rate_unrated, unrated, usage_totals};

/// Registers the routes.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/billing")
            .service(ingest)
            .service(preview)
            .service(unrated)
            .service(rate_unrated)
            .service(list_prices)
            .service(set_price)
            .service(balance)
            .service(top_up)
            .service(grant)
            .service(credit_line)
            .service(org_journal)
            .service(refund)
            .service(reverse)
            .service(statement)
            .service(usage_totals)
            .service(reconciliation)
            .service(journal)
            .service(stripe_webhook),
    );
}
