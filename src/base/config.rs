//! Layered settings: `config/default.toml`, then optional `config/local.toml`, then
//! `AICLOUD__SECTION__KEY` environment variables, then `DATABASE_URL` (later wins).
//! Unknown keys and invalid values stop start-up with a message naming the key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Environment, File, FileFormat};
use serde::Deserialize;

/// Where the project-local cluster started by `make db` records its URL.
pub const LOCAL_DATABASE_URL_FILE: &str = ".data/database.url";

/// Where it records the owner role's URL (migrations, test databases).
pub const LOCAL_OWNER_URL_FILE: &str = ".data/database-owner.url";

/// Every setting of the server. See `config/default.toml` for what each key means.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP server settings.
    pub server: ServerSettings,
    /// Database settings.
    pub database: DatabaseSettings,
    /// Logging settings.
    pub log: LogSettings,
    /// Audit custody settings.
    pub audit: AuditSettings,
    /// Event outbox and relay settings.
    pub events: EventsSettings,
    /// Identity and access settings.
    pub iam: IamSettings,
    /// Metering, ledger and spend guard settings.
    pub billing: BillingSettings,
    /// `[policy]`
    pub policy: PolicySettings,
    /// `[token_factory]`
    pub token_factory: TokenFactorySettings,
}

/// When the gateway commits a request's usage to billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageCommit {
    /// Before the response completes (the last byte waits for the commit).
    BeforeResponse,
    /// Just after the response completed (faster; a crash in between loses that usage).
    AfterResponse,
}

/// `[token_factory]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFactorySettings {
    /// When usage is committed.
    pub usage_commit: UsageCommit,
    /// Largest `/v1` request body, in bytes.
    pub max_request_bytes: usize,
    /// Tries of a usage commit before the request is answered 503.
    pub commit_attempts: u32,
    /// Consecutive failures that take an endpoint out of rotation.
    pub eject_after_failures: u32,
    /// Seconds between probes of endpoints out of rotation.
    pub probe_interval_secs: u64,
    /// Milliseconds between the demo model's streamed words.
    pub demo_word_delay_ms: u64,
    /// Milliseconds between analytics batches.
    pub analytics_flush_ms: u64,
    /// Commits waiting at once in `after_response` mode before responses wait for a place.
    pub max_pending_commits: usize,
}

/// `[policy]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Per mille of a ceiling past which an admitted decision is `warn` (and a quota's
    /// first threshold event fires); 800 is 80 %.
    pub warn_permille: u16,
    /// Seconds between background reads of billing's quota feed for organizations with
    /// quota counters (besides the reads billing's usage events trigger).
    pub quota_resync_secs: u64,
}

/// `[billing]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// ISO 4217 code organizations are billed in.
    pub currency: String,
    /// Available funds (minor units) below which an organization is `low_balance`.
    pub low_balance_minor: i64,
    /// Most usage events one group commit writes.
    pub group_max_events: usize,
    /// Group commits one process runs at once.
    pub group_writers: usize,
    /// Capture-only group commits (`Metering::capture`) one process runs at once.
    pub capture_writers: usize,
    /// Seconds between posting the expiry of promotional lots (their value stops counting
    /// at the instant anyway).
    pub expiry_interval_secs: u64,
    /// Minutes accepted usage may stay unrated before reconciliation reports it.
    pub unrated_grace_minutes: i64,
    /// Signing secret of the Stripe webhook endpoint (`whsec_...`); empty: no webhook.
    pub stripe_webhook_secret: String,
    /// How far a webhook's signed timestamp may be from now, in seconds, either way.
    pub stripe_tolerance_secs: u64,
}

// Hand-written so the webhook's signing secret never reaches a log line.
impl std::fmt::Debug for BillingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingSettings")
            .field("currency", &self.currency)
            .field("low_balance_minor", &self.low_balance_minor)
            .field("group_max_events", &self.group_max_events)
            .field("group_writers", &self.group_writers)
            .field("capture_writers", &self.capture_writers)
            .field("expiry_interval_secs", &self.expiry_interval_secs)
            .field("unrated_grace_minutes", &self.unrated_grace_minutes)
            .field(
                "stripe_webhook_secret",
                &redacted(&self.stripe_webhook_secret),
            )
            .field("stripe_tolerance_secs", &self.stripe_tolerance_secs)
            .finish()
    }
}

/// What Debug shows of a secret: whether there is one.
fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "(none)" } else { "(set)" }
}

/// `[iam]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamSettings {
    /// Seconds between writes of API keys' last-used times (one UPDATE per write).
    pub last_used_flush_secs: u64,
}

/// `[events]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSettings {
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: i32,
    /// First retry delay; each further retry doubles it.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// How long a relay holds a delivery before another may take it over.
    pub lease_secs: u64,
    /// How often the relay looks for due retries when nothing wakes it.
    pub poll_ms: u64,
}

/// `[audit]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Ed25519 digest signing key, 64 hex digits; empty disables digests.
    pub signing_key: String,
    /// Seconds between periodic digests; 0 disables them.
    pub digest_interval_secs: u64,
    /// Largest `details` object, in bytes of canonical JSON.
    pub max_details_bytes: usize,
}

// Hand-written so the signing key never reaches a log line.
impl std::fmt::Debug for AuditSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSettings")
            .field("signing_key", &redacted(&self.signing_key))
            .field("digest_interval_secs", &self.digest_interval_secs)
            .field("max_details_bytes", &self.max_details_bytes)
            .finish()
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Bind address.
    pub host: String,
    /// Bind port; 0 picks a free one.
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Grace period for in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Public base URL of the portal; empty derives it from host and port. An `https://`
    /// URL makes every cookie `Secure`.
    pub public_url: String,
    /// Addresses of reverse proxies whose `X-Forwarded-For` / `-Proto` are believed; from
    /// any other peer those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Peer addresses `/metrics` answers to.
    pub metrics_from: Vec<String>,
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// PostgreSQL URL the server connects with; empty means the project-local cluster.
    pub url: String,
    /// URL of the role that owns the schemas and runs migrations; empty means `url`
    /// (or the local cluster's owner role when `url` is empty too).
    pub owner_url: String,
    /// Pool size, also the bound on concurrent blocking database work.
    pub pool_size: u32,
    /// Seconds to wait for a pooled connection.
    pub connect_timeout_secs: u64,
    /// Whether `serve` migrates before listening.
    pub migrate_on_start: bool,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Minimum level: error, warn, info, debug or trace.
    pub level: String,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or variable could not be read or parsed, or a key is unknown.
    #[error("configuration: {0}")]
    Load(String),
    /// A value parsed but is not acceptable.
    #[error("configuration: invalid value for `{key}`: {reason}")]
    Invalid {
        /// Dotted key, e.g. `server.port`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Settings {
    /// Loads `dir/default.toml`, `dir/local.toml` if present, and the process environment.
    pub fn load(dir: &Path) -> Result<Settings, ConfigError> {
        let local = dir.join("local.toml");
        Settings::load_from(
            &dir.join("default.toml"),
            Some(&local),
            std::env::vars().collect(),
        )
    }

    /// Loads the given files and environment; tests use it so they never read a developer's
    /// `local.toml` or mutate the process environment.
    pub fn load_from(
        defaults: &Path,
        local: Option<&Path>,
        env: HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let database_url = env.get("DATABASE_URL").cloned();
        let owner_url = env.get("DATABASE_OWNER_URL").cloned();
        let app_env: HashMap<String, String> = env
            .into_iter()
            .filter(|(key, _)| key.starts_with("AICLOUD__"))
            .collect();
        let settings: Settings = config::Config::builder()
            .add_source(File::from(defaults).format(FileFormat::Toml))
            .add_source(
                local
                    .map(|path| File::from(path).format(FileFormat::Toml).required(false))
                    .into_iter()
                    .collect::<Vec<_>>(),
            )
            .add_source(
                Environment::with_prefix("AICLOUD")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(app_env)),
            )
            .set_override_option("database.url", database_url.filter(|url| !url.is_empty()))
            .and_then(|b| {
                b.set_override_option(
                    "database.owner_url",
                    owner_url.filter(|url| !url.is_empty()),
                )
            })
            .and_then(|builder| builder.build())
            .and_then(|config| config.try_deserialize())
            .map_err(|err| ConfigError::Load(err.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.server.host.trim().is_empty() {
            return invalid("server.host", "must not be empty");
        }
        if let Some(bad) = self
            .server
            .trusted_proxies
            .iter()
            .find(|a| a.parse::<std::net::IpAddr>().is_err())
        {
            return invalid(
                "server.trusted_proxies",
                &format!("`{bad}` is not an IP address"),
            );
        }
        if let Some(bad) = self
            .server
            .metrics_from
            .iter()
            .find(|a| a.parse::<std::net::IpAddr>().is_err())
        {
            return invalid(
                "server.metrics_from",
                &format!("`{bad}` is not an IP address"),
            );
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes", "must be at least 1024");
        }
        if self.database.pool_size == 0 {
            return invalid("database.pool_size", "must be at least 1");
        }
        if self.database.connect_timeout_secs == 0 {
            return invalid("database.connect_timeout_secs", "must be at least 1");
        }
        if self.log_level().is_none() {
            return invalid(
                "log.level",
                "must be one of error, warn, info, debug, trace, off",
            );
        }
        // The format only (32 bytes as hex): the audit module makes the key of it.
        let key = self.audit.signing_key.trim();
        if !key.is_empty() && hex::decode(key).map_or(true, |bytes| bytes.len() != 32) {
            return invalid("audit.signing_key", "must be 64 hexadecimal digits");
        }
        if self.events.max_attempts < 1 {
            return invalid("events.max_attempts", "must be at least 1");
        }
        if self.events.lease_secs == 0 || self.events.poll_ms == 0 {
            return invalid(
                "events.lease_secs",
                "lease_secs and poll_ms must be at least 1",
            );
        }
        if self.events.retry_max_ms < self.events.retry_base_ms {
            return invalid(
                "events.retry_max_ms",
                "must be at least events.retry_base_ms",
            );
        }
        if self.iam.last_used_flush_secs == 0 {
            return invalid("iam.last_used_flush_secs", "must be at least 1");
        }
        let currency = &self.billing.currency;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return invalid(
                "billing.currency",
                "must be three uppercase letters (ISO 4217)",
            );
        }
        if !(1..=1000).contains(&self.policy.warn_permille) {
            return invalid("policy.warn_permille", "must be 1 to 1000");
        }
        if !(1..=3600).contains(&self.policy.quota_resync_secs) {
            return invalid("policy.quota_resync_secs", "must be 1 to 3600");
        }
        let tf = &self.token_factory;
        if !(1024..=268_435_456).contains(&tf.max_request_bytes) {
            return invalid(
                "token_factory.max_request_bytes",
                "must be 1024 to 268435456",
            );
        }
        if !(1..=10).contains(&tf.commit_attempts) {
            return invalid("token_factory.commit_attempts", "must be 1 to 10");
        }
        if !(1..=1000).contains(&tf.eject_after_failures) {
            return invalid("token_factory.eject_after_failures", "must be 1 to 1000");
        }
        if !(1..=3600).contains(&tf.probe_interval_secs) {
            return invalid("token_factory.probe_interval_secs", "must be 1 to 3600");
        }
        if tf.demo_word_delay_ms > 10_000 {
            return invalid("token_factory.demo_word_delay_ms", "must be at most 10000");
        }
        if !(1..=1_000_000).contains(&tf.max_pending_commits) {
            return invalid("token_factory.max_pending_commits", "must be 1 to 1000000");
        }
        if !(10..=60_000).contains(&tf.analytics_flush_ms) {
            return invalid("token_factory.analytics_flush_ms", "must be 10 to 60000");
        }
        if self.billing.low_balance_minor < 0 {
            return invalid("billing.low_balance_minor", "must not be negative");
        }
        if !(1..=525_600).contains(&self.billing.unrated_grace_minutes) {
            return invalid("billing.unrated_grace_minutes", "must be 1 to 525600");
        }
        if self.billing.expiry_interval_secs == 0 {
            return invalid("billing.expiry_interval_secs", "must be at least 1");
        }
        if !(1..=16).contains(&self.billing.group_writers) {
            return invalid("billing.group_writers", "must be 1 to 16");
        }
        if !(1..=16).contains(&self.billing.capture_writers) {
            return invalid("billing.capture_writers", "must be 1 to 16");
        }
        if !(1..=100_000).contains(&self.billing.group_max_events) {
            return invalid("billing.group_max_events", "must be 1 to 100000");
        }
        let secret = &self.billing.stripe_webhook_secret;
        // A pasted secret with a stray space or newline would refuse every delivery.
        if secret.trim() != secret || secret.chars().any(char::is_control) {
            return invalid(
                "billing.stripe_webhook_secret",
                "must not hold whitespace at either end or control characters",
            );
        }
        if !(1..=3600).contains(&self.billing.stripe_tolerance_secs) {
            return invalid("billing.stripe_tolerance_secs", "must be 1 to 3600");
        }
        if self.audit.max_details_bytes < 256 {
            return invalid("audit.max_details_bytes", "must be at least 256");
        }
        let public = self.server.public_url.as_str();
        if !(public.is_empty() || public.starts_with("http://") || public.starts_with("https://")) {
            return invalid(
                "server.public_url",
                "must be empty or start with http:// or https://",
            );
        }
        Ok(())
    }

    /// The configured log level.
    pub fn log_level(&self) -> Option<log::LevelFilter> {
        self.log.level.parse().ok()
    }

    /// The URL the server connects with: the configured one, or the project-local cluster's.
    pub fn database_url(&self) -> Result<String, ConfigError> {
        if !self.database.url.is_empty() {
            return Ok(self.database.url.clone());
        }
        local_url(LOCAL_DATABASE_URL_FILE, "database.url")
    }

    /// The owner role's URL, for migrations. Given only `database.url`, that URL: the
    /// server then owns the tables, and audit's append-only guarantee rests on its
    /// triggers alone (an owner can disable them).
    pub fn owner_database_url(&self) -> Result<String, ConfigError> {
        if !self.database.owner_url.is_empty() {
            return Ok(self.database.owner_url.clone());
        }
        if !self.database.url.is_empty() {
            return Ok(self.database.url.clone());
        }
        local_url(LOCAL_OWNER_URL_FILE, "database.owner_url")
    }
}

fn local_url(file: &str, key: &'static str) -> Result<String, ConfigError> {
    let path = PathBuf::from(file);
    match std::fs::read_to_string(&path) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
        _ => Err(ConfigError::Invalid {
            key,
            reason: format!(
                "is empty and no project-local cluster was found ({}); run `make db` or set DATABASE_URL",
                path.display()
            ),
        }),
    }
}
