//! A platform with Token Factory's packet onboarded, one organization, and usage events
//! for it: what the billing tests start from.

use std::sync::Arc;

use aicloud::app::Platform;
use aicloud::platform::billing::{Credit, NewPrice, UsageActor, UsageActorKind, UsageEvent};
use aicloud::platform::iam::{Caller, CreatedOrganization, OrgKind};
use diesel::prelude::*;
use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::helpers::{TestDb, packet, platform_for};

pub const INPUT: &str = "token_factory.input_tokens";
pub const REQUESTS: &str = "token_factory.requests";
pub const MODEL: &str = "token_factory.model";

/// A platform over a fresh database, Token Factory onboarded, and organization `acme`.
pub struct Billed {
    pub db: TestDb,
    pub platform: Arc<Platform>,
    pub org: CreatedOrganization,
}

/// The worst case of `n` requests of model `demo`, for the spend guard.
pub fn requests(n: i64) -> Vec<aicloud::platform::billing::Estimate> {
    vec![aicloud::platform::billing::Estimate {
        product: "token_factory".into(),
        unit: REQUESTS.into(),
        resource_type: MODEL.into(),
        resource_id: "demo".into(),
        quantity: Decimal::from(n),
    }]
}

pub fn console() -> Caller {
    Caller::Console("test".into())
}

impl Billed {
    pub async fn start() -> Billed {
        Billed::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> Billed {
        let db = tokio::task::spawn_blocking(TestDb::create)
            .await
            .expect("db");
        let platform = platform_for(&db, extra).await;
        let source = aicloud::platform::registry::PacketSource {
            origin: "config/products/token-factory.toml".into(),
            text: packet("token-factory"),
            format: aicloud::platform::registry::Format::Toml,
        };
        platform
            .registry
            .onboard(source, aicloud::platform::audit::Actor::system("test"))
            .await
            .expect("token factory onboards");
        let org = platform
            .iam
            .create_organization(&console(), "acme", "Acme", OrgKind::Team, None)
            .await
            .expect("organization");
        Billed { db, platform, org }
    }

    /// `acme` and its default project, as the spend guard takes them.
    pub fn places(
        &self,
    ) -> (
        aicloud::platform::iam::OrganizationId,
        aicloud::platform::iam::ProjectId,
    ) {
        (
            aicloud::platform::iam::OrganizationId(self.org.organization.id),
            aicloud::platform::iam::ProjectId(self.org.project.id),
        )
    }

    /// `acme`'s quota-feed totals for this month.
    pub async fn totals(&self) -> Vec<aicloud::platform::billing::UsageTotal> {
        let month = aicloud::platform::billing::Period::of(OffsetDateTime::now_utc());
        self.platform
            .metering
            .usage_totals(&console(), "acme", month)
            .await
            .expect("totals")
    }

    /// Event ids of the usage listed unrated, oldest first.
    pub async fn unrated_ids(&self) -> Vec<String> {
        self.platform
            .metering
            .unrated(&console(), None, 10)
            .await
            .expect("unrated")
            .into_iter()
            .map(|u| u.event_id)
            .collect()
    }

    /// A usage event of `acme`'s default project.
    pub fn event(&self, id: &str, unit: &str, quantity: i64, model: &str) -> UsageEvent {
        UsageEvent {
            event_id: id.to_owned(),
            product: "token_factory".into(),
            unit: unit.to_owned(),
            quantity: Decimal::from(quantity),
            organization_id: self.org.organization.id,
            department_id: self.org.department.id,
            project_id: self.org.project.id,
            actor: UsageActor {
                kind: UsageActorKind::ApiKey,
                id: "tf_test".into(),
            },
            resource_type: MODEL.into(),
            resource_id: model.to_owned(),
            usage_source: "token_factory.gateway".into(),
            occurred_at: OffsetDateTime::now_utc(),
            correlation_id: Some(format!("req-{id}")),
            attributes: serde_json::Map::new(),
        }
    }

    /// Prices `unit` of every model at `minor` minor units, from now.
    pub async fn price(&self, unit: &str, minor: &str) {
        self.price_from(unit, minor, None).await;
    }

    pub async fn price_from(&self, unit: &str, minor: &str, from: Option<OffsetDateTime>) {
        price_every_model(&self.platform, unit, minor, from).await;
    }

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

    /// `acme`'s funds, as the ledger derives them.
    pub async fn balance(&self) -> aicloud::platform::billing::Balance {
        self.platform
            .ledger
            .balance(&console(), "acme")
            .await
            .expect("balance")
    }

    /// Ingests `events` as the console, expecting the call itself to succeed.
    pub async fn ingest(
        &self,
        events: Vec<UsageEvent>,
    ) -> Vec<aicloud::platform::billing::IngestOutcome> {
        self.platform
            .metering
            .ingest(&console(), events)
            .await
            .expect("ingest")
    }

    /// Rates what a price now covers, as the console.
    pub async fn rate_unrated(&self) -> usize {
        self.platform
            .metering
            .rate_unrated(&console())
            .await
            .expect("rate unrated")
    }

    /// Asserts that reconciliation finds nothing wrong, saying what it found otherwise.
    pub async fn assert_reconciles(&self, after: &str) {
        let report = self
            .platform
            .statements
            .reconcile(&console())
            .await
            .expect("reconcile");
        assert!(
            report.violations.is_empty(),
            "after {after}: {:?}",
            report.violations
        );
    }

    /// One number from SQL (`SELECT ... AS n`), as text.
    pub fn scalar(&self, sql: &str) -> String {
        scalar_in(&self.db, sql)
    }

    /// Journal transactions whose postings do not sum to zero per currency.
    pub fn unbalanced(&self) -> String {
        self.scalar(
            "SELECT count(*)::text AS n FROM (SELECT journal_id, currency FROM billing.postings \
             GROUP BY journal_id, currency HAVING sum(amount_minor) <> 0) s",
        )
    }
}

/// Prices `unit` of every Token Factory model at `minor` minor units (USD), from `from`.
pub async fn price_every_model(
    platform: &Platform,
    unit: &str,
    minor: &str,
    from: Option<OffsetDateTime>,
) {
    let price = NewPrice {
        product: "token_factory".into(),
        unit: unit.into(),
        resource_type: Some(MODEL.into()),
        resource_id: None,
        currency: "USD".into(),
        unit_price_minor: minor.parse().expect("price"),
        effective_from: from,
        effective_to: None,
    };
    platform
        .pricing
        .set_price(&console(), price)
        .await
        .expect("price set");
}

/// Waits until billing's poster has rated and posted every captured usage (usage a
/// product captured with `Metering::capture` is posted moments after it is committed).
pub async fn wait_posted(db: &TestDb) {
    let waiting = "SELECT count(*)::text AS n FROM billing.usage_captures WHERE posted_at IS NULL";
    for _ in 0..500 {
        if scalar_in(db, waiting) == "0" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("captured usage was not posted within 10 s");
}

/// One value from SQL (`SELECT ... AS n`) in `db`, as text.
pub fn scalar_in(db: &TestDb, sql: &str) -> String {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::Text)]
        n: String,
    }
    let row: N = diesel::sql_query(sql)
        .get_result(&mut db.connect())
        .expect("query");
    row.n
}
