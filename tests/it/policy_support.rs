//! A platform with Token Factory onboarded (its rates counted per 2 s, so tests can wait a
//! window out) and organization `acme`: what the policy tests start from.

use std::sync::Arc;

use aicloud::app::Platform;
use aicloud::platform::iam::{Caller, CreatedOrganization, OrgKind, OrganizationId, ProjectId};
use aicloud::platform::policy::{
    Decision, DecisionInput, Delta, Level, NewOverride, NewPlan, OverrideView, PlanLimit,
    PolicyError, Resource, Value,
};

use crate::helpers::{TestDb, edited, packet, platform_for};

pub const RPM: &str = "token_factory.requests_per_minute";
pub const TPM: &str = "token_factory.tokens_per_minute";
pub const CONCURRENT: &str = "token_factory.concurrent_requests";
pub const MONTHLY: &str = "token_factory.monthly_tokens";
pub const MODEL: &str = "token_factory.model";

/// Token Factory's packet with its rate windows shortened to 2 s.
pub fn fast_packet() -> String {
    edited(&packet("token-factory"), |t| {
        let dims = t["policy"]["dimensions"]
            .as_array_mut()
            .expect("dimensions");
        for d in dims {
            if d.get("kind").and_then(|k| k.as_str()) == Some("rate") {
                d.as_table_mut()
                    .expect("table")
                    .insert("window".into(), "2s".into());
            }
        }
    })
}

pub struct Policed {
    #[expect(dead_code, reason = "held so the database outlives the test")]
    pub db: TestDb,
    pub platform: Arc<Platform>,
    pub org: CreatedOrganization,
}

pub fn console() -> Caller {
    Caller::Console("test".into())
}

pub fn limit(dimension: &str, n: u64) -> PlanLimit {
    PlanLimit {
        dimension: dimension.into(),
        resource_type: None,
        resource_id: None,
        value: Value::Limit(n),
        delegate: false,
    }
}

pub fn model(id: &str) -> Resource {
    Resource {
        resource_type: MODEL.into(),
        id: id.into(),
    }
}

/// The platform over `db` with Token Factory onboarded (fast windows) and `acme` created.
pub async fn token_factory_and_acme(db: &TestDb) -> (Arc<Platform>, CreatedOrganization) {
    let platform = platform_for(db, &[]).await;
    let source = aicloud::platform::registry::PacketSource {
        origin: "token-factory.toml".into(),
        text: fast_packet(),
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
    (platform, org)
}

impl Policed {
    pub async fn start() -> Policed {
        let db = tokio::task::spawn_blocking(TestDb::create)
            .await
            .expect("db");
        let (platform, org) = token_factory_and_acme(&db).await;
        Policed { db, platform, org }
    }

    /// Creates plan `name` with `limits` and puts `acme` on it.
    pub async fn plan(&self, name: &str, limits: Vec<PlanLimit>) {
        let plan = NewPlan {
            name: name.into(),
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
            .assign(&console(), "acme", name, None)
            .await
            .expect("assigned");
    }

    /// An override of `dimension` at `level` in acme (its default project below org level).
    pub async fn set(
        &self,
        level: Level,
        dimension: &str,
        value: Value,
        delegate: bool,
    ) -> Result<OverrideView, PolicyError> {
        self.set_full(level, dimension, value, delegate, None, None, None)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn set_full(
        &self,
        level: Level,
        dimension: &str,
        value: Value,
        delegate: bool,
        key: Option<&str>,
        resource: Option<Resource>,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<OverrideView, PolicyError> {
        let project = matches!(level, Level::Project | Level::Principal | Level::ApiKey)
            .then(|| "default".to_owned());
        let new = NewOverride {
            level,
            plan: None,
            organization: Some("acme".into()),
            department: (level == Level::Department).then(|| "default".into()),
            project,
            principal: None,
            api_key: key.map(str::to_owned),
            dimension: dimension.into(),
            resource,
            value,
            delegate,
            reason: "test".into(),
            expires_at,
        };
        self.platform.overrides.set_override(&console(), new).await
    }

    pub fn input(&self, deltas: &[(&str, u64)]) -> DecisionInput {
        DecisionInput {
            organization: OrganizationId(self.org.organization.id),
            project: ProjectId(self.org.project.id),
            principal: None,
            api_key: None,
            product: "token_factory".into(),
            resource: None,
            action: Some("chat".into()),
            deltas: deltas
                .iter()
                .map(|(d, n)| Delta {
                    dimension: (*d).into(),
                    amount: *n,
                })
                .collect(),
            entitlements: Vec::new(),
        }
    }

    pub fn decide(&self, deltas: &[(&str, u64)]) -> Decision {
        self.platform.decisions.decide(&self.input(deltas)).0
    }
}
