//! Builds `Platform` (the handles every module and product is given) and the actix server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Logger, from_fn};
use actix_web::{App, HttpServer, web};
use utoipa_actix_web::AppExt;

use crate::base::clock::{Clock, SystemClock};
use crate::base::config::Settings;
use crate::base::db::{Db, DbError};
use crate::kit::http;
use crate::platform::audit::{Audit, PgAudit};
use crate::platform::billing::store::Collaborators;
use crate::platform::billing::{
    Adjustments, Ledger, Metering, Payments, PgBilling, Pricing, SpendGuard, Statements,
};
use crate::platform::events::{Events, PgEvents};
use crate::platform::iam::{Access, Iam, Keys, Members, People, PgIam, Tenancy};
use crate::platform::policy::{Decisions, Entitlements, Overrides, PgPolicy, Plans};
use crate::platform::registry::{PgRegistry, Registry};
use crate::products::token_factory::{self, Catalog, TokenFactory};

/// The shared services, as handles. Modules are added here as they land; each is reached
/// only through its trait.
pub struct Platform {
    /// Database handle (for probes; modules keep their own store over it).
    pub db: Db,
    /// Settings the server started with.
    pub settings: Arc<Settings>,
    /// Products and every product-specific name.
    pub registry: Arc<dyn Registry>,
    /// Append-only, hash-chained custody of privileged actions.
    pub audit: Arc<dyn Audit>,
    /// The transactional outbox and its relay.
    pub events: Arc<dyn Events>,
    /// Tenancy: organizations, departments, projects.
    pub iam: Arc<dyn Tenancy>,
    /// Service accounts, API keys, authentication and decisions.
    pub keys: Arc<dyn Keys>,
    /// Users and portal sessions.
    pub people: Arc<dyn People>,
    /// Memberships, role bindings and invitations.
    pub members: Arc<dyn Members>,
    /// Who may do what where.
    pub access: Arc<dyn Access>,
    /// Usage capture (rating and posting with it).
    pub metering: Arc<dyn Metering>,
    /// Price books.
    pub pricing: Arc<dyn Pricing>,
    /// Balances, credits, the journal.
    pub ledger: Arc<dyn Ledger>,
    /// Refunds, reversals and lot expiries.
    pub adjustments: Arc<dyn Adjustments>,
    /// Monthly statements and reconciliation.
    pub statements: Arc<dyn Statements>,
    /// Reservations against funds, from memory.
    pub spend: Arc<dyn SpendGuard>,
    /// Payments a card processor announces.
    pub payments: Arc<dyn Payments>,
    /// Plans and their assignment.
    pub plans: Arc<dyn Plans>,
    /// Overrides at every scope.
    pub overrides: Arc<dyn Overrides>,
    /// Entitlements as scopes set them.
    pub entitlements: Arc<dyn Entitlements>,
    /// Admission decisions from memory, snapshots, usage against limits.
    pub decisions: Arc<dyn Decisions>,
    /// The stores as themselves, to stop their snapshots' listeners at shutdown.
    stores: (Arc<PgRegistry>, Arc<PgIam>, Arc<PgBilling>, Arc<PgPolicy>),
}

impl Platform {
    /// Connects the modules to `db`. Call after migrations.
    pub async fn start(db: Db, settings: Arc<Settings>) -> Result<Platform, StartError> {
        let url = settings.database_url()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let registry = Arc::new(
            PgRegistry::start(db.clone(), url, Arc::clone(&clock))
                .await
                .map_err(|err| StartError::Module(format!("registry: {err}")))?,
        );
        let audit: Arc<dyn Audit> = Arc::new(
            PgAudit::new(
                db.clone(),
                registry.clone(),
                Arc::clone(&clock),
                &settings.audit,
            )
            .map_err(|err| StartError::Module(format!("audit: {err}")))?,
        );
        let events: Arc<dyn Events> = Arc::new(PgEvents::new(
            db.clone(),
            settings.database_url()?,
            registry.clone(),
            Arc::clone(&audit),
            Arc::clone(&clock),
            settings.events.clone(),
        ));
        registry.attach(Arc::clone(&audit), Arc::clone(&events));
        let iam = Arc::new(
            PgIam::start(
                db.clone(),
                settings.database_url()?,
                Arc::clone(&audit),
                Arc::clone(&events),
                registry.clone(),
                Arc::clone(&clock),
            )
            .await
            .map_err(|err| StartError::Module(format!("iam: {err}")))?,
        );
        let billing = Arc::new(
            PgBilling::start(
                db.clone(),
                settings.database_url()?,
                Collaborators {
                    access: iam.clone(),
                    tenancy: iam.clone(),
                    audit: Arc::clone(&audit),
                    events: Arc::clone(&events),
                    registry: registry.clone(),
                    clock: Arc::clone(&clock),
                },
                settings.billing.clone(),
            )
            .await
            .map_err(|err| StartError::Module(format!("billing: {err}")))?,
        );
        let policy = Arc::new(
            PgPolicy::start(
                db.clone(),
                settings.database_url()?,
                crate::platform::policy::store::Collaborators {
                    access: iam.clone(),
                    tenancy: iam.clone(),
                    keys: iam.clone(),
                    audit: Arc::clone(&audit),
                    events: Arc::clone(&events),
                    registry: registry.clone(),
                    metering: billing.clone(),
                    clock: Arc::clone(&clock),
                },
                settings.policy.clone(),
            )
            .await
            .map_err(|err| StartError::Module(format!("policy: {err}")))?,
        );
        policy
            .subscribe()
            .await
            .map_err(|err| StartError::Module(format!("policy: {err}")))?;
        Ok(Platform {
            db,
            settings,
            registry: registry.clone(),
            audit,
            events,
            iam: iam.clone(),
            keys: iam.clone(),
            people: iam.clone(),
            members: iam.clone(),
            access: iam.clone(),
            metering: billing.clone(),
            pricing: billing.clone(),
            ledger: billing.clone(),
            adjustments: billing.clone(),
            statements: billing.clone(),
            spend: Arc::new(billing.guard()),
            payments: billing.clone(),
            plans: policy.clone(),
            overrides: policy.clone(),
            entitlements: policy.clone(),
            decisions: policy.clone(),
            stores: (registry, iam, billing, policy),
        })
    }

    /// Starts background work: the event relay, periodic audit digests and the writes of
    /// API keys' last-used times. Consumers must be subscribed before, so nothing is fanned
    /// out past them.
    pub fn start_background(&self) {
        self.events.start_relay();
        let interval = std::time::Duration::from_secs(self.settings.audit.digest_interval_secs);
        crate::platform::audit::sign_periodically(Arc::clone(&self.audit), interval);
        let interval = std::time::Duration::from_secs(self.settings.iam.last_used_flush_secs);
        crate::platform::iam::flush_last_used_periodically(Arc::clone(&self.keys), interval);
        let interval = std::time::Duration::from_secs(self.settings.billing.expiry_interval_secs);
        crate::platform::billing::post_expiries_periodically(
            Arc::clone(&self.adjustments),
            interval,
        );
    }

    /// Finishes what background work holds in memory and stops the snapshots' listeners;
    /// call once the server has stopped.
    pub async fn finish_background(&self) {
        self.events.stop_relay().await;
        if let Err(err) = self.keys.flush_last_used().await {
            log::warn!("API keys' last-used times not written at shutdown: {err}");
        }
        let (registry, iam, billing, policy) = &self.stores;
        registry.stop();
        iam.stop();
        billing.stop();
        policy.stop();
    }

    /// IAM's handles, as its adapters and other modules' adapters take them.
    pub fn iam_handles(&self) -> Iam {
        Iam {
            tenancy: Arc::clone(&self.iam),
            keys: Arc::clone(&self.keys),
            people: Arc::clone(&self.people),
            members: Arc::clone(&self.members),
            access: Arc::clone(&self.access),
            registry: Arc::clone(&self.registry),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Settings were unusable.
    #[error(transparent)]
    Config(#[from] crate::base::config::ConfigError),
    /// The database was unusable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A module could not start.
    #[error("{0}")]
    Module(String),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// host:port tried.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A built, bound, not yet running server.
pub struct Application {
    server: Server,
    platform: web::Data<Platform>,
    products: Arc<Products>,
    port: u16,
    host: String,
}

impl Application {
    /// Connects, migrates when configured, and binds. Call from async code.
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let settings = Arc::new(settings);
        let db = Db::new(
            &settings.database_url()?,
            settings.database.pool_size,
            Duration::from_secs(settings.database.connect_timeout_secs),
        )?;
        if settings.database.migrate_on_start {
            let owner = settings.owner_database_url()?;
            let server = settings.database_url()?;
            let applied = migrate_blocking(owner, server).await?;
            for name in applied {
                log::info!("applied migration {name}");
            }
        }
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartError::Bind { address, source })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let platform = web::Data::new(Platform::start(db, settings.clone()).await?);
        let products = Arc::new(Products::start(&platform).await?);
        platform.start_background();
        let server = http_server(platform.clone(), &products, &settings, listener)?;
        Ok(Application {
            server,
            platform,
            products,
            port,
            host: settings.server.host.clone(),
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The portal's URL.
    pub fn url(&self) -> String {
        format!("http://{}:{}/", self.host, self.port)
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM stop gracefully), then writes what background
    /// work still holds in memory.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.platform.finish_background().await;
        self.products.stop();
        served
    }
}

/// The products built on the platform, started over its handles.
pub struct Products {
    /// The OpenAI-compatible gateway and its catalog.
    pub token_factory: Arc<TokenFactory>,
}

impl Products {
    /// Starts every product over `platform`'s handles.
    pub async fn start(platform: &Platform) -> Result<Products, StartError> {
        let with = token_factory::Collaborators {
            keys: Arc::clone(&platform.keys),
            access: Arc::clone(&platform.access),
            audit: Arc::clone(&platform.audit),
            events: Arc::clone(&platform.events),
            registry: Arc::clone(&platform.registry),
            decisions: Arc::clone(&platform.decisions),
            spend: Arc::clone(&platform.spend),
            metering: Arc::clone(&platform.metering),
            clock: Arc::new(SystemClock),
        };
        let token_factory = TokenFactory::start(
            platform.db.clone(),
            platform.settings.database_url()?,
            with,
            platform.settings.token_factory.clone(),
        )
        .await
        .map_err(|err| StartError::Module(format!("token factory: {err}")))?;
        Ok(Products {
            token_factory: Arc::new(token_factory),
        })
    }

    /// Stops the products' listeners (at shutdown).
    pub fn stop(&self) {
        self.token_factory.stop();
    }
}

async fn migrate_blocking(owner_url: String, server_url: String) -> Result<Vec<String>, DbError> {
    tokio::task::spawn_blocking(move || crate::base::db::migrate(&owner_url, &server_url))
        .await
        .map_err(|err| DbError::Aborted(err.to_string()))?
}

/// The platform modules and products present in this build, as the portal links their
/// areas.
const MODULES: &[&str] = &[
    "registry",
    "audit",
    "events",
    "iam",
    "billing",
    "policy",
    "token_factory",
];

/// What handlers take as app data: each module's handles, the database for probes, and
/// the portal shell. Cloning is cheap (handles are `Arc`s).
#[derive(Clone)]
struct AppData {
    db: web::Data<Db>,
    shell: web::Data<crate::kit::portal::layout::Shell>,
    iam: web::Data<Iam>,
    audit: web::Data<dyn Audit>,
    events: web::Data<dyn Events>,
    registry: web::Data<dyn Registry>,
    metering: web::Data<dyn Metering>,
    pricing: web::Data<dyn Pricing>,
    ledger: web::Data<dyn Ledger>,
    adjustments: web::Data<dyn Adjustments>,
    statements: web::Data<dyn Statements>,
    payments: web::Data<dyn Payments>,
    plans: web::Data<dyn Plans>,
    overrides: web::Data<dyn Overrides>,
    entitlements: web::Data<dyn Entitlements>,
    decisions: web::Data<dyn Decisions>,
    gateway: web::Data<token_factory::gateway::Gateway>,
    catalog: web::Data<dyn Catalog>,
    analytics: web::Data<dyn token_factory::analytics::Analytics>,
    checks: web::Data<http::health::Checks>,
    metrics: web::Data<http::metrics::Exposition>,
}

impl AppData {
    fn of(platform: &Platform, products: &Products) -> AppData {
        let catalog: Arc<dyn Catalog> = products.token_factory.clone();
        let analytics: Arc<dyn token_factory::analytics::Analytics> =
            products.token_factory.clone();
        AppData {
            db: web::Data::new(platform.db.clone()),
            shell: web::Data::new(crate::kit::portal::layout::Shell { modules: MODULES }),
            iam: web::Data::new(platform.iam_handles()),
            audit: web::Data::from(Arc::clone(&platform.audit)),
            events: web::Data::from(Arc::clone(&platform.events)),
            registry: web::Data::from(Arc::clone(&platform.registry)),
            metering: web::Data::from(Arc::clone(&platform.metering)),
            pricing: web::Data::from(Arc::clone(&platform.pricing)),
            ledger: web::Data::from(Arc::clone(&platform.ledger)),
            adjustments: web::Data::from(Arc::clone(&platform.adjustments)),
            statements: web::Data::from(Arc::clone(&platform.statements)),
            payments: web::Data::from(Arc::clone(&platform.payments)),
            plans: web::Data::from(Arc::clone(&platform.plans)),
            overrides: web::Data::from(Arc::clone(&platform.overrides)),
            entitlements: web::Data::from(Arc::clone(&platform.entitlements)),
            decisions: web::Data::from(Arc::clone(&platform.decisions)),
            gateway: web::Data::from(products.token_factory.gateway()),
            catalog: web::Data::from(catalog),
            analytics: web::Data::from(analytics),
            checks: web::Data::new(http::health::Checks(vec![
                products.token_factory.readiness(),
            ])),
            metrics: web::Data::new(exposition(platform, products)),
        }
    }
}

/// Sends small writes at once: a streamed chunk written after the response's headers would
/// otherwise wait (Nagle) for the client's delayed acknowledgement of them, up to 40 ms.
fn no_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let _ = tcp.set_nodelay(true);
    }
}

/// Every metric the modules and products keep, for `/metrics`.
fn exposition(platform: &Platform, products: &Products) -> http::metrics::Exposition {
    let mut registry = prometheus_client::registry::Registry::default();
    products.token_factory.register_metrics(&mut registry);
    let allowed = platform
        .settings
        .server
        .metrics_from
        .iter()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    http::metrics::Exposition::new(registry, allowed)
}

/// Where access lines are logged (actix's own target, named so the check below agrees).
const ACCESS_LOG: &str = "actix_web::middleware::logger";

/// One line per request. It names the route a request matched, never its raw path or
/// query, which can carry secrets (an invitation link's token). The route is looked up
/// only when the line will be written: the lookup walks every route pattern, and the
/// replacement runs for each response whether logged or not.
fn access_log() -> Logger {
    Logger::new(r#"%a "%{route}xo" %s %b %Dms request_id=%{x-request-id}o"#)
        .log_target(ACCESS_LOG)
        .custom_response_replace("route", |res| {
            if !log::log_enabled!(target: ACCESS_LOG, log::Level::Info) {
                return String::new();
            }
            let pattern = res.request().match_pattern();
            let route = pattern.as_deref().unwrap_or("(no route)");
            format!("{} {route}", res.request().method())
        })
}

fn http_server(
    platform: web::Data<Platform>,
    products: &Products,
    settings: &Settings,
    listener: TcpListener,
) -> Result<Server, StartError> {
    let limit = settings.server.max_body_bytes;
    let trust = http::client::ProxyTrust::new(
        &settings.server.trusted_proxies,
        &settings.server.public_url,
    )
    .map_err(|reason| {
        StartError::Config(crate::base::config::ConfigError::Invalid {
            key: "server.trusted_proxies",
            reason,
        })
    })?;
    let trust = web::Data::new(trust);
    let data = AppData::of(&platform, products);
    let mut server = HttpServer::new(move || {
        App::new()
            .into_utoipa_app()
            .openapi(http::openapi::base())
            .app_data(trust.clone())
            .app_data(data.db.clone())
            .app_data(data.shell.clone())
            .app_data(data.iam.clone())
            .app_data(data.audit.clone())
            .app_data(data.events.clone())
            .app_data(data.registry.clone())
            .app_data(data.metering.clone())
            .app_data(data.pricing.clone())
            .app_data(data.ledger.clone())
            .app_data(data.adjustments.clone())
            .app_data(data.statements.clone())
            .app_data(data.payments.clone())
            .app_data(data.plans.clone())
            .app_data(data.overrides.clone())
            .app_data(data.entitlements.clone())
            .app_data(data.decisions.clone())
            .app_data(data.gateway.clone())
            .app_data(data.catalog.clone())
            .app_data(data.analytics.clone())
            .app_data(data.checks.clone())
            .app_data(data.metrics.clone())
            .app_data(http::problem::json_config(limit))
            .app_data(http::problem::payload_config(limit))
            .service(http::health::healthz)
            .service(http::health::readyz)
            .configure(crate::platform::registry::api::routes)
            .configure(crate::platform::audit::api::routes)
            .configure(crate::platform::events::api::routes)
            .configure(crate::platform::iam::api::routes)
            .configure(crate::platform::billing::api::routes)
            .configure(crate::platform::policy::api::routes)
            .configure(token_factory::api::admin_routes)
            .openapi_service(http::openapi::service)
            .into_app()
            // First among the plain routes: actix tries routes in order, and the gateway's
            // are the hot ones (the portal's dozens of patterns would be matched before it).
            .configure(token_factory::api::v1_routes)
            .configure(crate::kit::portal::routes)
            .configure(crate::platform::iam::web::session::routes)
            .configure(crate::platform::registry::pages::routes)
            .configure(crate::platform::audit::pages::routes)
            .configure(crate::platform::events::pages::routes)
            .configure(crate::platform::iam::pages::routes)
            .configure(crate::platform::billing::pages::routes)
            .configure(crate::platform::policy::pages::routes)
            .configure(token_factory::pages::routes)
            .service(http::metrics::metrics)
            .default_service(web::to(http::problem::no_route))
            .wrap(from_fn(crate::platform::iam::web::session::gate))
            .wrap(from_fn(http::input::refuse_control_characters))
            .wrap(from_fn(crate::platform::audit::denials::record))
            .wrap(http::problem::error_handlers())
            .wrap(from_fn(http::security_headers::add))
            .wrap(from_fn(http::request_id::assign))
            .wrap(access_log())
    })
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    // A client that closes its side is not cut off while its request is served, so a plain
    // (not streamed) generation runs to its end and is billed, as OpenAI bills it; a stream
    // finds the client gone at its next write and cancels the upstream (`gateway::relay`).
    // actix's default, set here because billing depends on it.
    .h1_allow_half_closed(true)
    .on_connect(no_delay);
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let server = server
        .listen(listener)
        .map_err(|source| StartError::Bind { address, source })?
        .run();
    Ok(server)
}
