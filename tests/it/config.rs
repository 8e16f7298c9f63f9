//! Settings precedence and validation, through the same loader the server uses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aicloud::base::config::{ConfigError, Settings};

/// A directory with the real default.toml and the given local.toml.
fn config_dir(local: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aicloud-config-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::copy("config/default.toml", dir.join("default.toml")).expect("copy defaults");
    std::fs::write(dir.join("local.toml"), local).expect("write local.toml");
    dir
}

fn load(dir: &Path, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load_from(
        &dir.join("default.toml"),
        Some(&dir.join("local.toml")),
        env,
    )
}

#[test]
fn defaults_apply_when_nothing_overrides_them() {
    let dir = config_dir("");

    let settings = load(&dir, &[]).expect("loads");

    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.server.host, "127.0.0.1");
}

#[test]
fn local_file_overrides_defaults_and_environment_overrides_both() {
    let dir = config_dir("[server]\nport = 9000\nworkers = 3\n");

    let file_only = load(&dir, &[]).expect("loads");
    let with_env = load(&dir, &[("AICLOUD__SERVER__PORT", "9100")]).expect("loads");

    assert_eq!(file_only.server.port, 9000);
    assert_eq!(with_env.server.port, 9100);
    assert_eq!(
        with_env.server.workers, 3,
        "env overrides only what it names"
    );
}

#[test]
fn database_url_variable_overrides_every_file() {
    let dir = config_dir("[database]\nurl = \"postgres://file/db\"\n");

    let settings = load(
        &dir,
        &[
            ("AICLOUD__DATABASE__URL", "postgres://env/db"),
            ("DATABASE_URL", "postgres://winner/db"),
        ],
    )
    .expect("loads");

    assert_eq!(
        settings.database_url().expect("url"),
        "postgres://winner/db"
    );
}

#[test]
fn an_unknown_key_in_a_file_is_rejected_with_its_name() {
    let dir = config_dir("[server]\nprot = 9000\n");

    let err = load(&dir, &[])
        .expect_err("unknown key rejected")
        .to_string();

    assert!(err.contains("prot"), "{err}");
}

#[test]
fn an_unknown_key_in_the_environment_is_rejected_with_its_name() {
    let dir = config_dir("");

    let err = load(&dir, &[("AICLOUD__SERVER__THREADS", "4")])
        .expect_err("unknown key rejected")
        .to_string();

    assert!(err.contains("threads"), "{err}");
}

#[test]
fn a_value_of_the_wrong_type_names_its_key() {
    let dir = config_dir("");

    let err = load(&dir, &[("AICLOUD__SERVER__PORT", "eighty")])
        .expect_err("bad port rejected")
        .to_string();

    assert!(err.contains("server.port"), "{err}");
}

#[test]
fn a_value_out_of_range_names_its_key_and_why() {
    let dir = config_dir("[database]\npool_size = 0\n");

    let err = load(&dir, &[]).expect_err("zero pool rejected").to_string();

    assert!(
        err.contains("`database.pool_size`: must be at least 1"),
        "{err}"
    );
}

#[test]
fn last_used_times_need_a_flush_interval_of_at_least_a_second() {
    let dir = config_dir("");

    let err = load(&dir, &[("AICLOUD__IAM__LAST_USED_FLUSH_SECS", "0")])
        .expect_err("zero interval rejected")
        .to_string();

    assert!(
        err.contains("`iam.last_used_flush_secs`: must be at least 1"),
        "{err}"
    );
}
