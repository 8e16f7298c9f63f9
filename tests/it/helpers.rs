//! Test harness: a migrated template database (built once per migration set, under an
//! advisory lock so parallel test binaries cooperate), a fresh database per test cloned
//! from it, and `TestApp`, the real server on port 0 against that database.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use aicloud::app::Application;
use aicloud::base::config::Settings;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use sha2::{Digest, Sha256};

/// Arbitrary but fixed: every test process takes this lock to build the template.
const TEMPLATE_LOCK: i64 = 0x00a1_c10d;

fn base_settings() -> Settings {
    let defaults = Path::new("config/default.toml");
    let env: HashMap<String, String> = std::env::vars()
        .filter(|(key, _)| key == "DATABASE_URL" || key == "DATABASE_OWNER_URL")
        .collect();
    Settings::load_from(defaults, None, env).expect("config/default.toml loads")
}

/// URL of the owner role, through which the harness creates, migrates and drops databases.
pub fn admin_url() -> String {
    base_settings()
        .owner_database_url()
        .expect("a database: run `make db` or set DATABASE_URL")
}

/// URL of the role the server connects as.
pub fn server_url() -> String {
    base_settings()
        .database_url()
        .expect("a database: run `make db` or set DATABASE_URL")
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let prefix = &base[..base.rfind('/').expect("URL has a database path")];
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

/// The template's name changes whenever any migration file, or the server role the
/// migrations grant to, does.
fn template_name() -> String {
    let mut files: Vec<_> = files_under(Path::new("migrations"));
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(server_url().as_bytes());
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).expect("migration file readable"));
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("aicloud_tmpl_{hex}")
}

/// Every file below `dir`.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("directory readable")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Builds the template once; later calls (and other processes) reuse it.
pub fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let admin = admin_url();
        let name = template_name();
        let mut conn = PgConnection::establish(&admin).expect("admin connection");
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .expect("template lock");
        if !database_exists(&mut conn, &name) {
            build_template(&mut conn, &admin, &name);
        }
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .expect("template unlock");
        name
    })
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result::<Count>(conn)
        .expect("pg_database readable")
        .n
        > 0
}

/// Migrates under a scratch name and renames at the end, so a crash never leaves a
/// half-migrated template behind under the real name.
fn build_template(conn: &mut PgConnection, admin: &str, name: &str) {
    let scratch = format!("{name}_build");
    execute(
        conn,
        &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"),
    );
    execute(conn, &format!("CREATE DATABASE {scratch}"));
    {
        let mut template =
            PgConnection::establish(&with_database(admin, &scratch)).expect("template connection");
        let server_role = aicloud::base::db::role_of(&server_url()).expect("server role");
        aicloud::base::db::apply_migrations(&mut template, &server_role).expect("migrations apply");
    }
    execute(conn, &format!("ALTER DATABASE {scratch} RENAME TO {name}"));
}

fn execute(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// A database of one test's own, dropped when the value is.
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// URL to connect to it as the server's role.
    pub url: String,
    /// URL to connect to it as the owner.
    pub owner_url: String,
    admin: String,
}

impl TestDb {
    /// Clones the template into a fresh database.
    pub fn create() -> TestDb {
        let template = template();
        let admin = admin_url();
        let name = format!("aicloud_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::establish(&admin).expect("admin connection");
        execute(
            &mut conn,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        );
        TestDb {
            url: with_database(&server_url(), &name),
            owner_url: with_database(&admin, &name),
            name,
            admin,
        }
    }

    /// A direct connection as the owner, for arranging and inspecting state.
    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.owner_url).expect("test database connection")
    }

    /// A direct connection as the server's role.
    pub fn connect_as_server(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("test database connection as the server")
    }

    /// Drops the database now, cutting off every connection to it.
    pub fn drop_now(&self) {
        let mut conn = PgConnection::establish(&self.admin).expect("admin connection");
        execute(
            &mut conn,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// Settings for a server on port 0 against `db`, ignoring any local.toml and the
/// developer's environment.
pub fn settings_for(db: &TestDb, extra: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("DATABASE_OWNER_URL".into(), db.owner_url.clone()),
        ("AICLOUD__SERVER__PORT".into(), "0".into()),
        ("AICLOUD__SERVER__WORKERS".into(), "1".into()),
        ("AICLOUD__DATABASE__POOL_SIZE".into(), "3".into()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load_from(Path::new("config/default.toml"), None, env).expect("test settings")
}

/// The real server, listening on a free port, with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// A client that keeps no cookies and follows no redirects.
    pub client: reqwest::Client,
    /// The app's database.
    pub db: TestDb,
    browser: tokio::sync::OnceCell<reqwest::Client>,
    admin_key: tokio::sync::OnceCell<String>,
}

impl TestApp {
    /// Starts the server with default test settings.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(&[]).await
    }

    /// Starts the server with extra `AICLOUD__...` settings.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        TestApp::spawn_configured(extra, |_| {}).await
    }

    /// Starts the server with extra settings, then `edit` applied (for settings the
    /// environment cannot give, such as lists).
    pub async fn spawn_configured(
        extra: &[(&str, &str)],
        edit: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let db = tokio::task::spawn_blocking(TestDb::create)
            .await
            .expect("database created");
        let mut settings = settings_for(&db, extra);
        edit(&mut settings);
        let app = Application::build(settings).await.expect("server builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(CLIENT_IDLE)
            .build()
            .expect("client");
        TestApp {
            address,
            client,
            db,
            browser: tokio::sync::OnceCell::new(),
            admin_key: tokio::sync::OnceCell::new(),
        }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GET `path` as the platform administrator's key.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(self.admin_key().await)
            .send()
            .await
            .expect("request sent")
    }
}

impl TestApp {
    /// POST `body` to `path` with `content_type`.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(self.admin_key().await)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// GET a list route's first page (at most 200 items) and return its items.
    pub async fn get_items(&self, path: &str) -> serde_json::Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page = self.get_json(&format!("{path}{sep}limit=200")).await;
        assert!(
            page["next_cursor"].is_null(),
            "GET {path}: more than one page"
        );
        page["items"].clone()
    }

    /// GET `path` and decode JSON, asserting 200.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.expect("JSON body")
    }
}

impl TestApp {
    /// A key holding every scope of `platform.platform_admin` (with `platform.admin`, so it
    /// acts at platform scope), set up on first use: the platform packet is onboarded
    /// in-process (no caller can be authorized before it) and the key issued from the console.
    pub async fn admin_key(&self) -> &str {
        self.admin_key
            .get_or_init(|| async {
                let platform = platform_for(&self.db, &[]).await;
                let key = admin_key_for(&platform).await;
                // Ready once the server's registry snapshot, too, has the platform's scopes,
                // and its tenancy snapshot the key's organization (each hears of its change
                // by NOTIFY on a channel of its own, so one being ready says nothing of the
                // other: a top-up to `platform-ops` was once refused as no organization).
                self.wait_until_ok(&key, "/api/v1/audit/digests").await;
                self.wait_until_ok(&key, "/api/v1/iam/orgs/platform-ops")
                    .await;
                key
            })
            .await
    }

    /// Waits until the server's read model knows `key` (it learns of it by NOTIFY).
    pub async fn wait_for_key(&self, key: &str) {
        self.wait_until_ok(key, "/api/v1/iam/me").await
    }

    /// Waits until GET `path` with `key` answers 200.
    pub async fn wait_until_ok(&self, key: &str, path: &str) {
        for _ in 0..100 {
            let res = self
                .client
                .get(self.url(path))
                .bearer_auth(key)
                .send()
                .await
                .expect("me");
            if res.status() == 200 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("GET {path} with the key never answered 200");
    }
}

/// Issues, from the console, a key with every scope of `platform.platform_admin`.
pub async fn admin_key_for(platform: &aicloud::app::Platform) -> String {
    use aicloud::platform::iam::{Caller, KeyHolder, NewKey, OrgKind};
    let console = Caller::Console("test".into());
    let role = platform
        .registry
        .active_entry("role", "platform.platform_admin")
        .expect("platform admin role");
    let scopes: Vec<String> =
        serde_json::from_value(role.attributes["scopes"].clone()).expect("scopes");
    let actor = aicloud::platform::iam::Caller::Console("test".into());
    let ops = platform
        .iam
        .create_organization(
            &actor,
            "platform-ops",
            "Platform operations",
            OrgKind::Team,
            None,
        )
        .await
        .expect("ops organization");
    let sa = platform
        .keys
        .create_service_account(
            &console,
            "platform-ops",
            "default",
            "admin",
            "tests",
            "administration",
        )
        .await
        .expect("admin service account");
    let key = NewKey {
        holder: KeyHolder::ServiceAccount(sa.id),
        name: "admin".into(),
        scopes,
        model_allowlist: None,
        expires_at: None,
    };
    let _ = ops;
    platform
        .keys
        .issue_key(&console, key)
        .await
        .expect("admin key")
        .secret
}

/// POSTs a packet to `{base}api/v1/registry/packets/onboard` of a server process with `key`,
/// retrying while that process has not yet learnt of the key (401) or the platform's scopes
/// (403) through NOTIFY.
pub async fn onboard_over_http(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    packet_text: String,
) -> reqwest::Response {
    for _ in 0..100 {
        let res = http
            .post(format!("{base}api/v1/registry/packets/onboard"))
            .bearer_auth(key)
            .header("content-type", "application/toml")
            .body(packet_text.clone())
            .send()
            .await
            .expect("sent");
        if res.status() != 401 && res.status() != 403 {
            return res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the server never accepted the administrator's key");
}

/// The text of `config/products/<name>.toml`.
pub fn packet(name: &str) -> String {
    std::fs::read_to_string(format!("config/products/{name}.toml")).expect("packet file")
}

/// `text` (a TOML packet) after `edit` changed its table.
pub fn edited(text: &str, edit: impl FnOnce(&mut toml::Table)) -> String {
    let mut table: toml::Table = toml::from_str(text).expect("packet parses");
    edit(&mut table);
    toml::to_string(&table).expect("packet serializes")
}

/// The platform's modules against `db`, without the HTTP server, with the platform
/// packet onboarded (its audit actions are what audit accepts).
pub async fn platform_for(
    db: &TestDb,
    extra: &[(&str, &str)],
) -> std::sync::Arc<aicloud::app::Platform> {
    let settings = std::sync::Arc::new(settings_for(db, extra));
    let pool =
        aicloud::base::db::Db::new(&db.url, 20, std::time::Duration::from_secs(5)).expect("pool");
    let platform = aicloud::app::Platform::start(pool, settings)
        .await
        .expect("platform starts");
    let source = aicloud::platform::registry::PacketSource {
        origin: "config/products/platform.toml".into(),
        text: packet("platform"),
        format: aicloud::platform::registry::Format::Toml,
    };
    platform
        .registry
        .onboard(source, aicloud::platform::audit::Actor::system("test"))
        .await
        .expect("platform packet onboards");
    std::sync::Arc::new(platform)
}

/// The `aicloud` binary with nothing in its environment but `PATH` and `db`'s URLs.
pub fn aicloud_command(db: &TestDb) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aicloud"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("DATABASE_OWNER_URL", &db.owner_url);
    command
}

/// `aicloud serve` against `db` on a free port with one worker; stdio is the caller's.
pub fn server_command(db: &TestDb) -> std::process::Command {
    let mut command = aicloud_command(db);
    command
        .arg("serve")
        .env("AICLOUD__SERVER__PORT", "0")
        .env("AICLOUD__SERVER__WORKERS", "1");
    command
}

/// A real `aicloud serve` process against a test database, killed when dropped (also when
/// a test fails), so no server outlives its test.
pub struct ServerProcess {
    child: KilledOnDrop,
    /// Its portal URL, `http://127.0.0.1:PORT/`.
    pub url: String,
}

impl ServerProcess {
    /// Starts `aicloud serve` against `db` with extra `AICLOUD__...` settings, and waits for
    /// its banner. Its output is read to the end so it never blocks on a full pipe.
    pub fn start(db: &TestDb, extra: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let mut child = server_command(db)
            .envs(extra.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("server starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut banner = String::new();
        stdout.read_line(&mut banner).expect("banner");
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        ServerProcess {
            child: KilledOnDrop(child),
            url: portal_url(&banner),
        }
    }

    /// Sends SIGKILL (no chance to finish anything) and waits for the process to die.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("server reaped");
    }

    /// Sends SIGTERM (a graceful stop) and waits for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(signalled.success());
        self.child.wait().expect("server exits")
    }
}

/// A child process killed and reaped when dropped, so a failing test leaves none behind.
pub struct KilledOnDrop(pub std::process::Child);

impl std::ops::Deref for KilledOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KilledOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        // Already gone when the test stopped it itself: both calls then fail harmlessly.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The portal URL in the server's first line of output (`... portal at URL`).
pub fn portal_url(banner: &str) -> String {
    banner
        .split("portal at ")
        .nth(1)
        .expect("a portal URL")
        .trim()
        .to_owned()
}

/// Runs the `aicloud` binary with `args` against `db`, with nothing else in its environment.
pub fn aicloud(db: &TestDb, args: &[&str]) -> std::process::Output {
    aicloud_command(db)
        .args(args)
        .output()
        .expect("aicloud runs")
}

/// Runs `aicloud` with `args` against `db`, writing `input` to its standard input.
pub fn aicloud_with_stdin(db: &TestDb, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = aicloud_command(db)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aicloud runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("written");
    child.wait_with_output().expect("finished")
}

/// How long test clients keep an idle connection: under the server's keep-alive (actix's
/// 5 s), so a request never goes out on a connection the server is closing at that moment
/// (seen on CI as `IncompleteMessage` after a test step that took longer than 5 s).
const CLIENT_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// A browser-like client: keeps cookies, follows no redirects.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(CLIENT_IDLE)
        .build()
        .expect("client")
}

/// The platform administrator the portal tests sign in as.
pub const ADMIN_EMAIL: &str = "admin@example.test";
/// Their password.
pub const ADMIN_PASSWORD: &str = "test admin passphrase";

/// The `value` of the hidden `csrf` input in `html`.
pub fn csrf_in(html: &str) -> String {
    let start =
        html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[start..start + html[start..].find('"').expect("closing quote")].to_owned()
}

impl TestApp {
    /// A browser-like client (cookies, no redirects followed) signed in as `email`.
    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Client {
        let (client, status) = self.try_sign_in(email, password).await;
        assert_eq!(status, 303, "sign-in as {email}");
        client
    }

    /// A sign-in attempt from a fresh browser, and the status it got (303 on success).
    pub async fn try_sign_in(&self, email: &str, password: &str) -> (reqwest::Client, u16) {
        let client = cookie_client();
        let form = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("login page")
            .text()
            .await
            .expect("html");
        let res = client
            .post(self.url("/login"))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", &csrf_in(&form)),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("signed in");
        (client, res.status().as_u16())
    }

    /// GET `path` as the signed-in platform administrator (signing in on first use).
    pub async fn page(&self, path: &str) -> reqwest::Response {
        let browser = self.browser.get_or_init(|| self.admin()).await;
        browser
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// The administrator's browser (signing in on first use).
    pub async fn browser(&self) -> &reqwest::Client {
        self.browser.get_or_init(|| self.admin()).await
    }

    /// Onboards the platform packet, bootstraps the administrator, and signs in as them.
    pub async fn admin(&self) -> reqwest::Client {
        self.admin_key().await;
        let out = aicloud_with_stdin(
            &self.db,
            &["bootstrap", "--email", ADMIN_EMAIL, "--password-stdin"],
            &format!("{ADMIN_PASSWORD}\n"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }
}
