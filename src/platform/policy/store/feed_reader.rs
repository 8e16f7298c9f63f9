//! Keeps the engine's quota counters fed from billing's quota feed, off the request path:
//! every organization once at start, then whenever a counter is made, billing announces
//! usage (`platform.billing.usage_recorded`), or the resync interval passes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::prelude::ToPrimitive;
use uuid::Uuid;

use super::super::engine::{Engine, Signal, Signals};
use super::super::feed::FeedRow;
use super::Collaborators;
use super::thresholds::Writer;
use crate::platform::billing::Period;
use crate::platform::events::{Consumer, Envelope};
use crate::platform::iam::{Caller, OrganizationId, ProjectId};

/// The event billing announces each group commit with.
pub const USAGE_RECORDED: &str = "platform.billing.usage_recorded";

/// Reads an organization's feed into the engine.
pub struct Reader {
    engine: Arc<Engine>,
    with: Collaborators,
}

impl Reader {
    /// Over `engine`.
    pub fn new(engine: Arc<Engine>, with: Collaborators) -> Reader {
        Reader { engine, with }
    }

    /// Reads every organization (at start).
    pub async fn read_all(&self) {
        match self.with.tenancy.organizations().await {
            Ok(orgs) => {
                for org in orgs {
                    self.read_slug(org.id, &org.slug).await;
                }
            }
            Err(err) => log::warn!("policy: organizations not listed for the quota feed: {err}"),
        }
    }

    /// Reads one organization's current month.
    pub async fn read(&self, organization: Uuid) {
        match self
            .with
            .tenancy
            .organization_by_id(OrganizationId(organization))
            .await
        {
            Ok(Some(org)) => self.read_slug(organization, &org.slug).await,
            Ok(None) => {}
            Err(err) => {
                log::warn!(
                    "policy: organization {organization} not read for the quota feed: {err}"
                );
                self.engine.feed.failed(organization);
            }
        }
    }

    /// Reads the current month of the organization `organization`, whose slug is `slug`.
    async fn read_slug(&self, organization: Uuid, slug: &str) {
        let counters = self.engine.feed.begin(organization);
        let now = self.with.clock.now();
        let period = Period::of(now);
        let caller = Caller::Console("policy.quota_feed".into());
        match self.with.metering.usage_totals(&caller, slug, period).await {
            Ok(totals) => {
                let rows = totals
                    .into_iter()
                    .map(|t| FeedRow {
                        department: self
                            .with
                            .tenancy
                            .project_by_id(ProjectId(t.project_id))
                            .map(|p| p.department_id),
                        project: t.project_id,
                        actor_kind: t.actor_kind,
                        actor_id: t.actor_id,
                        unit: t.unit,
                        quantity: t.quantity.ceil().to_u64().unwrap_or(u64::MAX),
                    })
                    .collect();
                self.engine.feed.landed(
                    organization,
                    super::super::dimensions::Period::Month.key(now),
                    rows,
                    &counters,
                );
            }
            Err(err) => {
                log::warn!("policy: quota feed of {slug} not read: {err}");
                self.engine.feed.failed(organization);
            }
        }
    }
}

/// Serves signals: feed reads (coalesced per organization) and threshold crossings.
pub async fn run(
    reader: Reader,
    writer: Writer,
    mut received: tokio::sync::mpsc::UnboundedReceiver<Signal>,
) {
    while let Some(first) = received.recv().await {
        let round = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut orgs = BTreeSet::new();
        let mut next = Some(first);
        while let Some(signal) = next {
            match signal {
                Signal::ReadFeed(org) => {
                    orgs.insert(org);
                }
                Signal::Crossed(crossing) => writer.write(crossing).await,
            }
            next = received.try_recv().ok();
        }
        for org in orgs {
            reader.read(org).await;
        }
        // A busy organization's usage is announced with every ingest group and every
        // posting round of billing's poster, tens to hundreds of times a second. Reads
        // start at most every FEED_ROUND: quotas count this process's admissions in
        // between, so nothing passes unseen, and the next read replaces those estimates
        // with billing's totals.
        tokio::time::sleep(FEED_ROUND.saturating_sub(round.elapsed())).await;
    }
}

/// The shortest time between two rounds of feed reads.
const FEED_ROUND: Duration = Duration::from_millis(250);

/// Asks for a read of every organization with quota counters every `every`.
pub async fn tick(engine: Arc<Engine>, signals: Signals, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.tick().await;
    loop {
        interval.tick().await;
        for org in engine.feed.organizations() {
            if signals.send(Signal::ReadFeed(org)).is_err() {
                return;
            }
        }
    }
}

/// Billing's usage announcements, as reads of the organizations they name.
pub struct UsageRecorded {
    /// Where the reads go.
    pub signals: Signals,
}

#[async_trait::async_trait]
impl Consumer for UsageRecorded {
    async fn handle(&self, event: &Envelope) -> Result<(), String> {
        let orgs: BTreeSet<Uuid> = event
            .payload
            .get("totals")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("organization_id")?.as_str()?.parse().ok())
            .collect();
        for org in orgs {
            let _ = self.signals.send(Signal::ReadFeed(org));
        }
        Ok(())
    }
}
