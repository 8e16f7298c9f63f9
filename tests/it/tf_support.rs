//! A real server with Token Factory onboarded (its rates counted per 2 s), organization
//! `acme` with funds and prices, a consumer key, and the mock provider registered as model
//! `mock`: what the gateway tests start from.

use std::sync::Arc;
use std::time::Duration;

use aicloud::app::{Platform, Products};
use aicloud::platform::billing::Credit;
use aicloud::platform::iam::{CreatedOrganization, KeyHolder, NewKey};
use aicloud::platform::policy::{NewPlan, PlanLimit};
use aicloud::products::token_factory::{Catalog, ModelKind, NewEndpoint, NewModel};
use serde_json::{Value, json};

use crate::billing_support::{price_every_model, scalar_in, wait_posted};
use crate::helpers::TestApp;
use crate::iam_tenants::{ADMIN_SCOPES, api, user, user_key};
use crate::policy_support::{console, token_factory_and_acme};
use crate::tf_mock::Mock;

pub const INFERENCE: &str = "token_factory.inference";
pub const MODELS_READ: &str = "token_factory.models.read";

/// The gateway under test and what it was set up with.
pub struct Gate {
    pub app: TestApp,
    pub platform: Arc<Platform>,
    pub products: Products,
    #[expect(dead_code, reason = "kept for tests that need the organization's ids")]
    pub org: CreatedOrganization,
    pub mock: Mock,
    /// A key with the inference and models scopes in `acme/default`.
    pub key: String,
}

/// An endpoint of the mock (or wherever `base_url` points).
pub fn endpoint(name: &str, base_url: &str) -> NewEndpoint {
    NewEndpoint {
        name: name.into(),
        base_url: base_url.into(),
        upstream_model: "upstream-model".into(),
        credential_env: None,
        weight: 1,
        timeout_ms: 5_000,
        max_in_flight: 100,
    }
}

/// A chat model served by `endpoints`.
pub fn chat_model(id: &str, endpoints: Vec<NewEndpoint>) -> NewModel {
    NewModel {
        id: id.into(),
        display_name: format!("Test model {id}"),
        kind: ModelKind::Chat,
        context_length: 4096,
        max_output_tokens: 256,
        fallbacks: Vec::new(),
        premium: false,
        endpoints,
    }
}

impl Gate {
    pub async fn start() -> Gate {
        Gate::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> Gate {
        Gate::start_configured(extra, |_| {}).await
    }

    /// Starts with extra settings, then `edit` applied to them.
    pub async fn start_configured(
        extra: &[(&str, &str)],
        edit: impl FnOnce(&mut aicloud::base::config::Settings),
    ) -> Gate {
        let mut settings = vec![("AICLOUD__TOKEN_FACTORY__DEMO_WORD_DELAY_MS", "0")];
        settings.extend_from_slice(extra);
        let app = TestApp::spawn_configured(&settings, edit).await;
        let (platform, org) = token_factory_and_acme(&app.db).await;
        let products = Products::start(&platform).await.expect("products start");
        let mock = Mock::start();
        let mut mock_model = chat_model("mock", vec![endpoint("primary", &mock.base_url)]);
        mock_model.endpoints[0].upstream_model = "upstream-model".into();
        products
            .token_factory
            .add_model(&console(), mock_model)
            .await
            .expect("mock model");
        let embed = NewModel {
            kind: ModelKind::Embedding,
            max_output_tokens: 0,
            ..chat_model("mock-embed", vec![endpoint("primary", &mock.base_url)])
        };
        products
            .token_factory
            .add_model(&console(), embed)
            .await
            .expect("embedding model");
        let gate = Gate {
            app,
            platform,
            products,
            org,
            mock,
            key: String::new(),
        };
        gate.price_everything().await;
        gate.top_up(1_000_000).await;
        let key = gate.issue(&[INFERENCE, MODELS_READ], None).await;
        let gate = Gate { key, ..gate };
        gate.wait_until_served().await;
        gate
    }

    /// Waits until the server's read models know the mock model, the prices and the funds:
    /// a demo request is served (its usage is the demo model's, which no test counts).
    async fn wait_until_served(&self) {
        for _ in 0..200 {
            let listed: Value = self
                .app
                .client
                .get(self.app.url("/v1/models"))
                .bearer_auth(&self.key)
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .unwrap_or_default();
            let knows_mock = listed["data"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["id"] == "mock");
            if knows_mock
                && self
                    .post("/chat/completions", &Gate::chat("demo-echo", "warm up"))
                    .await
                    .status()
                    == 200
            {
                // The warm-up's usage is posted, so a test's balance starts after it.
                wait_posted(&self.app.db).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server never served a request");
    }

    /// Prices input and output tokens at 0.01 and 0.02 minor units, and requests at 0.
    async fn price_everything(&self) {
        for (unit, minor) in [
            ("token_factory.input_tokens", "0.01"),
            ("token_factory.output_tokens", "0.02"),
            ("token_factory.requests", "0"),
        ] {
            price_every_model(&self.platform, unit, minor, None).await;
        }
    }

    /// The key of an administrator of `acme`, who may write policy in the organization and
    /// its projects but not platform-wide.
    pub async fn acme_admin_key(&self) -> String {
        let admin = user(&self.platform, "admin@acme.example").await;
        let operator = self.app.admin_key().await.to_owned();
        let path = "/api/v1/iam/orgs/acme/members/admin@acme.example";
        let role = Some(json!({ "role": "admin" }));
        let res = api(&self.app, &operator, "PUT", path, role).await;
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
        user_key((&self.app, &self.platform), &admin, "acme", &ADMIN_SCOPES).await
    }

    /// Adds `minor` cents to `acme`.
    pub async fn top_up(&self, minor: i64) {
        let credit = Credit {
            amount_minor: minor,
            reason: "test money".into(),
        };
        self.platform
            .ledger
            .top_up(&console(), "acme", credit)
            .await
            .expect("top-up");
    }

    /// A key of a new service account in `acme/default`, ready on the server.
    pub async fn issue(&self, scopes: &[&str], models: Option<Vec<String>>) -> String {
        let name = format!("app-{}", uuid::Uuid::now_v7().simple());
        let sa = self
            .platform
            .keys
            .create_service_account(
                &console(),
                "acme",
                "default",
                &name,
                "tests",
                "calls models",
            )
            .await
            .expect("service account");
        let key = NewKey {
            holder: KeyHolder::ServiceAccount(sa.id),
            name: "test key".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            model_allowlist: models,
            expires_at: None,
        };
        let secret = self
            .platform
            .keys
            .issue_key(&console(), key)
            .await
            .expect("key")
            .secret;
        self.wait_until_known(&secret).await;
        secret
    }

    /// Waits until the server's read model knows the key (it may lack the models scope).
    async fn wait_until_known(&self, key: &str) {
        for _ in 0..200 {
            let res = self
                .app
                .client
                .get(self.app.url("/v1/models"))
                .bearer_auth(key)
                .send()
                .await
                .expect("sent");
            let status = res.status();
            let body: Value = res.json().await.unwrap_or_default();
            if status == 200 || body["error"]["code"] == "insufficient_permissions" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server never knew the key");
    }

    /// Puts `acme` on a plan with `limits`, and waits a moment for the server to hear of it.
    pub async fn plan(&self, limits: Vec<PlanLimit>) {
        let plan = NewPlan {
            name: "test".into(),
            description: "test plan".into(),
            products: vec!["*".into()],
            limits,
        };
        self.platform
            .plans
            .create_plan(&console(), plan)
            .await
            .expect("plan");
        self.platform
            .plans
            .assign(&console(), "acme", "test", None)
            .await
            .expect("assigned");
        self.policy_heard().await;
    }

    /// Waits until the server's policy book holds every policy change committed so far (it
    /// hears of them through NOTIFY): its effective snapshot's version reaches the latest.
    pub async fn policy_heard(&self) {
        let latest: i64 = self
            .scalar("SELECT coalesce(max(id), 0)::text AS n FROM policy.changes")
            .parse()
            .expect("a version");
        let operator = self.app.admin_key().await.to_owned();
        let path = "/api/v1/policy/orgs/acme/projects/default/effective";
        for _ in 0..250 {
            let res = self
                .app
                .client
                .get(self.app.url(path))
                .bearer_auth(&operator);
            let snapshot: Value = res.send().await.expect("sent").json().await.expect("json");
            if snapshot["version"].as_i64().is_some_and(|v| v >= latest) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server's policy never reached version {latest}");
    }

    /// Waits until the server lists `model` (it hears of catalog changes through NOTIFY).
    pub async fn until_listed(&self, model: &str) {
        for _ in 0..250 {
            let listed = self.models().await;
            let data = listed["data"].as_array().into_iter().flatten();
            if data.into_iter().any(|m| m["id"] == model) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server never listed `{model}`");
    }

    /// POSTs `body` to `/v1{path}` with `key`.
    pub async fn post_with(&self, key: &str, path: &str, body: &Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(&format!("/v1{path}")))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("sent")
    }

    /// POSTs `body` to `/v1{path}` with the consumer key.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_with(&self.key, path, body).await
    }

    /// `GET /v1/models` with the gate's key, as JSON.
    pub async fn models(&self) -> Value {
        self.app
            .client
            .get(self.app.url("/v1/models"))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    }

    /// A chat request for `model` saying `text`.
    pub fn chat(model: &str, text: &str) -> Value {
        json!({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 20})
    }

    /// One number from SQL, as text.
    pub fn scalar(&self, sql: &str) -> String {
        scalar_in(&self.app.db, sql)
    }

    /// Usage events billing holds for `request_id`: (unit, quantity), by unit.
    pub fn usage_of(&self, request_id: &str) -> Vec<(String, String)> {
        let rows = self.scalar(&format!(
            "SELECT coalesce(string_agg(unit || '=' || quantity::bigint::text, ',' ORDER BY unit), '') AS n \
             FROM billing.usage_events WHERE event_id LIKE '{request_id}:%'"
        ));
        rows.split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(u, q)| {
                (
                    u.trim_start_matches("token_factory.").to_owned(),
                    q.to_owned(),
                )
            })
            .collect()
    }

    /// Waits until billing has posted every usage captured so far.
    pub async fn posted(&self) {
        wait_posted(&self.app.db).await;
    }

    /// Usage events billing holds, but for the demo model's (the warm-up's).
    pub fn usage_count(&self) -> i64 {
        self.scalar(
            "SELECT count(*)::text AS n FROM billing.usage_events WHERE resource_id <> 'demo-echo'",
        )
        .parse()
        .expect("count")
    }
}

/// The error object of an OpenAI error body.
pub async fn error_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("an error body");
    let error = body["error"].clone();
    assert!(error.is_object(), "not OpenAI's shape: {body}");
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "error lacks `{key}`: {body}");
    }
    (status, error)
}

/// The `x-request-id` the gateway answered with.
pub fn request_id(res: &reqwest::Response) -> String {
    res.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}
