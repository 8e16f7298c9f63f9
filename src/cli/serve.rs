//! `aicloud serve`

use std::path::Path;

use super::{CliError, load_settings};
use crate::app::Application;

pub(super) fn run(config_dir: &Path) -> Result<(), CliError> {
    let settings = load_settings(config_dir)?;
    init_logging(settings.log_level().unwrap_or(log::LevelFilter::Info));
    let public_url = settings.server.public_url.clone();
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|err| CliError::new(format!("cannot start the runtime: {err}")))?;
    runtime.block_on(async move {
        let app = Application::build(settings)
            .await
            .map_err(|err| CliError::new(err.to_string()))?;
        let url = if public_url.is_empty() {
            app.url()
        } else {
            public_url
        };
        println!("aicloud {} serving; portal at {url}", crate::VERSION);
        app.run_until_stopped()
            .await
            .map_err(|err| CliError::new(format!("server stopped with an error: {err}")))
    })?;
    println!("aicloud stopped");
    Ok(())
}

/// `log.level` from settings; `RUST_LOG`, when set, refines it.
fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .format_timestamp_millis()
        .init();
}
