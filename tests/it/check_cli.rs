//! `aicloud check` as an operator runs it.

use std::process::{Command, Output};

use crate::helpers::TestDb;

fn check(env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aicloud"));
    command
        .arg("check")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("aicloud runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_passes_against_a_migrated_database() {
    let db = TestDb::create();

    let out = check(&[
        ("DATABASE_URL", &db.url),
        ("DATABASE_OWNER_URL", &db.owner_url),
    ]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("ok: configuration valid, database reachable")
    );
}

#[test]
fn check_fails_with_one_line_when_the_database_is_down() {
    let out = check(&[(
        "DATABASE_URL",
        "postgresql://nobody@/aicloud?host=/nonexistent-socket-dir",
    )]);

    assert!(!out.status.success());
    let message = stderr(&out);
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(
        message.starts_with("error: database unavailable"),
        "{message}"
    );
}

#[test]
fn check_names_the_key_of_an_invalid_value() {
    let out = check(&[
        ("DATABASE_URL", "postgresql://x@/y"),
        ("AICLOUD__SERVER__WORKERS", "many"),
    ]);

    assert!(!out.status.success());
    assert!(stderr(&out).contains("server.workers"), "{}", stderr(&out));
}
