//! A schema-driven fuzz run: schemathesis (pinned, installed by `make fuzz-tools`) reads
//! `/api/openapi.json` and sends every documented operation generated requests, valid and
//! invalid, as the platform administrator. Each must answer without a server error, with a
//! documented status code and content type, and with a body its schema describes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{KilledOnDrop, TestApp};

/// At most this many generated test cases per operation (and stateful scenarios).
const MAX_EXAMPLES: &str = "25";
/// Fixed, so a failure can be reproduced with the same command.
const SEED: &str = "20261201";
/// Bound of the whole schemathesis run; past it the test fails with what it printed so far.
const TIME_BOUND: Duration = Duration::from_secs(150);
/// Server errors and conformance to the document; nothing about semantics yet.
const CHECKS: &str = "not_a_server_error,status_code_conformance,\
                      content_type_conformance,response_schema_conformance,negative_data_rejection";

/// Where `admin_key_for` puts the administrator's key: organization, project, account.
const OWN_ORG: &str = "platform-ops";
const OWN_PROJECT: &str = "default";
const OWN_ACCOUNT: &str = "admin";

fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// What a finished (or stopped) schemathesis run left behind.
struct Run {
    /// Its exit code; `None` when it was stopped at the time bound (or by a signal).
    code: Option<i32>,
    timed_out: bool,
    elapsed: Duration,
    stdout: String,
    stderr: String,
}

/// Reads `pipe` to the end on a thread of its own, so the child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `command`, killing it once `bound` has passed.
fn run_bounded(mut command: Command, bound: Duration) -> Run {
    let started = Instant::now();
    let mut child = KilledOnDrop(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("schemathesis starts"),
    );
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("schemathesis waited for") {
            break status;
        }
        if started.elapsed() > bound {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("schemathesis reaped");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Run {
        code: status.code(),
        timed_out,
        elapsed: started.elapsed(),
        stdout: stdout.join().expect("stdout read"),
        stderr: stderr.join().expect("stderr read"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_fuzzed_requests_as_its_document_says() {
    let schemathesis = project_path(".data/venv/bin/schemathesis");
    assert!(
        schemathesis.is_file(),
        "{} is missing: run `make fuzz-tools` to install schemathesis",
        schemathesis.display()
    );
    // With a signing secret, so the fuzzer reaches the webhook's signature check (every
    // delivery it can make is unsigned: 400) instead of the 404 of an unconfigured one.
    let secret = ("AICLOUD__BILLING__STRIPE_WEBHOOK_SECRET", "whsec_fuzz");
    let app = TestApp::spawn_with(&[secret]).await;
    // Onboards the platform packet, issues the key, and waits until the server knows both.
    let key = app.admin_key().await.to_owned();
    // Token Factory onboarded too, or /readyz answers 503 (as it should) throughout.
    let onboarded = crate::helpers::onboard_over_http(
        &app.client,
        &format!("{}/", app.address),
        &key,
        crate::helpers::packet("token-factory"),
    )
    .await;
    assert!(onboarded.status().is_success(), "token factory onboards");
    let prefix = key
        .split('_')
        .nth(1)
        .expect("a key is aic_<prefix>_<secret>");

    // The hooks spare the key's organization and project by slug and by id.
    let org = app.get_json(&format!("/api/v1/iam/orgs/{OWN_ORG}")).await;
    let project = app
        .get_json(&format!(
            "/api/v1/iam/orgs/{OWN_ORG}/projects/{OWN_PROJECT}"
        ))
        .await;
    let id = |v: &serde_json::Value| v["id"].as_str().expect("an id").to_owned();
    let own_org = format!("{OWN_ORG},{}", id(&org));
    let own_project = format!("{OWN_PROJECT},{}", id(&project));

    // Inside target/: a JSON report of every failure, kept for reading after a run.
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-fuzz");
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let report = scratch.join("report.json");

    let mut command = Command::new(&schemathesis);
    command
        .arg("run")
        .arg(app.url("/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .arg("--continue-on-failure")
        // No example database: each run starts from the seed alone and writes nothing.
        .args(["--generation-database", "none"])
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .arg("--no-color")
        .args(["--report", "json"])
        .arg("--report-json-path")
        .arg(&report)
        // The hooks send TOML packets as text, and keep the fuzzer from revoking, rotating or
        // disabling its own key, or suspending its own organization (which the server allows
        // for a service account's key): the rest of the run would only see 401s. See the
        // hooks file for exactly what they spare.
        .env(
            "SCHEMATHESIS_HOOKS",
            project_path("tests/it/api_fuzz_hooks.py"),
        )
        .env("AICLOUD_FUZZ_ORG", own_org)
        .env("AICLOUD_FUZZ_PROJECT", own_project)
        .env("AICLOUD_FUZZ_ACCOUNT", OWN_ACCOUNT)
        .env("AICLOUD_FUZZ_KEY_PREFIX", prefix)
        // Anything else schemathesis might write lands there too, not in the project.
        .current_dir(&scratch);

    let run = tokio::task::spawn_blocking(move || run_bounded(command, TIME_BOUND))
        .await
        .expect("schemathesis ran");

    let output = format!(
        "schemathesis {} after {:.0?} (report: {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        match (run.timed_out, run.code) {
            (true, _) => format!("was stopped at the {TIME_BOUND:?} bound"),
            (false, Some(code)) => format!("exited with {code}"),
            (false, None) => "was killed by a signal".to_owned(),
        },
        run.elapsed,
        report.display(),
        run.stdout,
        run.stderr
    );
    assert!(!run.timed_out && run.code == Some(0), "{output}");
}
