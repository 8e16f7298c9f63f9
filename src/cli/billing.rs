//! `aicloud billing ...`.

use std::path::Path;

use super::{CliError, with_platform};
use crate::platform::billing::cli::{BillingCommand, BillingHandles, run as run_command};

pub(super) fn run(config_dir: &Path, command: &BillingCommand) -> Result<(), CliError> {
    with_platform(config_dir, |platform| async move {
        let handles = BillingHandles {
            metering: platform.metering.as_ref(),
            pricing: platform.pricing.as_ref(),
            ledger: platform.ledger.as_ref(),
            adjustments: platform.adjustments.as_ref(),
            statements: platform.statements.as_ref(),
        };
        run_command(&handles, command).await
    })
}
