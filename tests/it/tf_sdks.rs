//! The official openai SDKs, unchanged (Python from PyPI, Node from npm, at the versions
//! tests/sdk pins and `make sdk-tools` installs), against the real server: chat plain and
//! streamed, embeddings, models and errors, as tests/sdk/*/check_openai.* check them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tf_support::Gate;

fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `program script` against `gate`, failing with what it printed unless it passes.
async fn run_sdk(gate: &Gate, program: PathBuf, script: &str) -> String {
    assert!(
        !program.is_absolute() || program.exists(),
        "{} is missing: run `make sdk-tools` to install the pinned openai SDKs",
        program.display()
    );
    let base_url = gate.app.url("/v1");
    let key = gate.key.clone();
    let script = project_path(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .arg(script)
            .env("OPENAI_BASE_URL", base_url)
            .env("OPENAI_API_KEY", key)
            .env_remove("OPENAI_ORG_ID")
            .env_remove("OPENAI_PROJECT_ID")
            .output()
            .expect("the SDK script starts")
    })
    .await
    .expect("joined");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the SDK check failed:\n{printed}");
    printed
}

#[tokio::test]
async fn the_official_python_sdk_chats_streams_embeds_lists_models_and_reads_errors() {
    let gate = Gate::start().await;

    let printed = run_sdk(
        &gate,
        project_path(".data/sdk-venv/bin/python"),
        "tests/sdk/python/check_openai.py",
    )
    .await;

    for check in [
        "plain chat",
        "streamed chat",
        "embeddings",
        "models",
        "errors",
    ] {
        assert!(printed.contains(&format!("ok: {check}")), "{printed}");
    }
}

#[tokio::test]
async fn the_official_node_sdk_chats_streams_embeds_lists_models_and_reads_errors() {
    let gate = Gate::start().await;
    assert!(
        project_path("tests/sdk/node/node_modules/openai").exists(),
        "run `make sdk-tools` to install the pinned openai package"
    );

    let printed = run_sdk(
        &gate,
        PathBuf::from("node"),
        "tests/sdk/node/check_openai.mjs",
    )
    .await;

    for check in [
        "plain chat",
        "streamed chat",
        "embeddings",
        "models",
        "errors",
    ] {
        assert!(printed.contains(&format!("ok: {check}")), "{printed}");
    }
}
