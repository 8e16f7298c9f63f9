//! Upstreams: where the gateway sends a request (the route over a model's endpoints and its
//! fallbacks), the pooled streaming HTTP client, endpoint health, and the demo provider.

pub mod demo;
pub mod health;
mod outgoing;
pub mod route;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::catalog::{Endpoint, Target};
use health::Health;
pub use outgoing::Outgoing;

/// A response body as it arrives.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// Which OpenAI route a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/chat/completions`.
    Chat,
    /// `/completions`.
    Completions,
    /// `/embeddings`.
    Embeddings,
}

impl Route {
    /// The path under the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Route::Chat => "/chat/completions",
            Route::Completions => "/completions",
            Route::Embeddings => "/embeddings",
        }
    }
}

/// An upstream's answer whose headers have arrived.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body, as it arrives.
    pub body: BodyStream,
}

/// Why an upstream did not answer usefully. All of these may be retried elsewhere, before
/// the client has seen a byte.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No connection, or it broke before the headers.
    Connect(String),
    /// No headers within the endpoint's timeout.
    Timeout,
    /// 408, 429 or 5xx.
    Status(u16),
}

impl Failure {
    /// Stable name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "connect",
            Failure::Timeout => "timeout",
            Failure::Status(_) => "status",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(why) => write!(f, "connection failed: {why}"),
            Failure::Timeout => write!(f, "no answer within the endpoint's timeout"),
            Failure::Status(status) => write!(f, "answered HTTP {status}"),
        }
    }
}

/// The client side of every upstream.
pub struct Upstreams {
    http: reqwest::Client,
    /// Health and load of every endpoint.
    pub health: Arc<Health>,
    demo_word_delay: Duration,
}

impl Upstreams {
    /// One pooled client for every endpoint.
    pub fn new(health: Arc<Health>, demo_word_delay: Duration) -> Result<Upstreams, String> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| format!("the upstream HTTP client could not be built: {err}"))?;
        Ok(Upstreams {
            http,
            health,
            demo_word_delay,
        })
    }

    /// Sends `body` (its model already the upstream's) to `endpoint`; answers once the
    /// response's headers arrived. 4xx other than 408 and 429 are answers, not failures.
    pub async fn send(
        &self,
        endpoint: &Endpoint,
        route: Route,
        body: &Outgoing,
    ) -> Result<Reply, Failure> {
        match &endpoint.target {
            Target::DemoEcho if route != Route::Embeddings => Ok(Reply {
                status: 200,
                body: demo::generate(body.fields(), route == Route::Chat, self.demo_word_delay),
            }),
            Target::DemoEmbed if route == Route::Embeddings => Ok(Reply {
                status: 200,
                body: demo::embed(body.fields()),
            }),
            Target::DemoEcho | Target::DemoEmbed => Ok(Reply {
                status: 404,
                body: Box::pin(futures_util::stream::once(async {
                    Ok(Bytes::from_static(
                        br#"{"error":{"message":"The demo model does not serve this route.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
                    ))
                })),
            }),
            Target::Http(base) => {
                self.post(endpoint, &format!("{base}{}", route.path()), body)
                    .await
            }
        }
    }

    async fn post(
        &self,
        endpoint: &Endpoint,
        url: &str,
        body: &Outgoing,
    ) -> Result<Reply, Failure> {
        let bytes = body.encoded().await?;
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(bytes);
        if let Some(key) = credential(endpoint) {
            request = request.bearer_auth(key);
        }
        let response = match tokio::time::timeout(endpoint.timeout, request.send()).await {
            Err(_) => return Err(Failure::Timeout),
            Ok(Err(err)) => return Err(Failure::Connect(without_url(&err))),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        if status == 408 || status == 429 || status >= 500 {
            return Err(Failure::Status(status));
        }
        let body = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(|err| without_url(&err)));
        Ok(Reply {
            status,
            body: Box::pin(body),
        })
    }

    /// Asks an HTTP endpoint for its model list, as the prober does; demo endpoints are
    /// always up.
    pub async fn probe(&self, endpoint: &Endpoint) -> bool {
        let Target::Http(base) = &endpoint.target else {
            return true;
        };
        let mut request = self.http.get(format!("{base}/models"));
        if let Some(key) = credential(endpoint) {
            request = request.bearer_auth(key);
        }
        matches!(
            tokio::time::timeout(endpoint.timeout, request.send()).await,
            Ok(Ok(res)) if res.status().is_success()
        )
    }
}

/// The endpoint's credential, read from its environment variable at each use (so a
/// rotated value takes effect without a restart); never logged.
fn credential(endpoint: &Endpoint) -> Option<String> {
    let name = endpoint.credential_env.as_deref()?;
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// An error's text without the URL (which could carry credentials in userinfo).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "(upstream)");
    }
    match err.is_timeout() {
        true => "timed out".into(),
        false => text,
    }
}
