//! `aicloud tf ...`: Token Factory's catalog and its first-run demo.

use std::path::Path;

use super::{CliError, with_platform};
use crate::app::Products;
use crate::products::token_factory::cli::{DemoHandles, TfCommand, run as run_command};

pub(super) fn run(config_dir: &Path, command: &TfCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        let products = Products::start(&platform)
            .await
            .map_err(|err| CliError::new(err.to_string()))?;
        let settings = &platform.settings;
        let demo = DemoHandles {
            tenancy: platform.iam.as_ref(),
            keys: platform.keys.as_ref(),
            pricing: platform.pricing.as_ref(),
            ledger: platform.ledger.as_ref(),
            server_url: server_url(settings),
            currency: settings.billing.currency.clone(),
        };
        let done = run_command(products.token_factory.as_ref(), &demo, command).await;
        products.stop();
        done
    })
}

/// Where clients reach the server: its public URL, else its own address.
fn server_url(settings: &crate::base::config::Settings) -> String {
    match settings.server.public_url.trim() {
        "" => format!("http://{}:{}", settings.server.host, settings.server.port),
        url => url.trim_end_matches('/').to_owned(),
    }
}
