//! `Metering` for products: checks each event, hands the valid ones to a group committer
//! (the ledger's or the capturer's), previews prices, reads unrated usage and the quota
//! feed, and rates late.

use uuid::Uuid;

use super::super::prices::PriceBook;
use super::super::usage::{self, IngestOutcome, UsageEvent};
use super::super::{
    BILLING_ADJUST, BILLING_READ, BillingError, Metering, Period, RatedPreview, USAGE_INGEST,
    UnratedUsage, UsageTotal,
};
use super::groups::{Committer, committing};
use super::ingest::MAX_BATCH;
use super::{PgBilling, rating};
use crate::platform::iam::{Caller, ProjectId, Target};

impl PgBilling {
    /// Each event's problem, if any (checked against the registry and IAM's places).
    fn problems(&self, events: &[UsageEvent]) -> Vec<Option<String>> {
        let now = self.with.clock.now();
        events
            .iter()
            .map(|event| {
                let home = self
                    .with
                    .tenancy
                    .project_by_id(ProjectId(event.project_id))
                    .map(|p| (p.organization_id, p.department_id));
                usage::problem(event, self.with.registry.as_ref(), home, now)
            })
            .collect()
    }

    /// Checks `events` and hands the valid ones to `committer`: one outcome per event.
    async fn submit(
        &self,
        caller: &Caller,
        events: Vec<UsageEvent>,
        committer: &Committer,
    ) -> Result<Vec<IngestOutcome>, BillingError> {
        self.authorized(caller, USAGE_INGEST, Target::Platform)
            .await?;
        check_batch(&events)?;
        let problems = self.problems(&events);
        let (valid, rejected): (Vec<_>, Vec<_>) = events
            .into_iter()
            .zip(problems)
            .enumerate()
            .partition(|(_, (_, problem))| problem.is_none());
        let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; valid.len() + rejected.len()];
        for (index, (event, problem)) in rejected {
            outcomes[index] = Some(IngestOutcome::rejected(
                &event.event_id,
                problem.unwrap_or_default(),
            ));
        }
        let (indexes, events): (Vec<usize>, Vec<UsageEvent>) =
            valid.into_iter().map(|(i, (event, _))| (i, event)).unzip();
        if !events.is_empty() {
            let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
            let written = committer.submit(events).await?;
            for ((index, id), outcome) in indexes.into_iter().zip(ids).zip(written) {
                outcomes[index] = Some(IngestOutcome::of(&id, outcome));
            }
        }
        Ok(outcomes.into_iter().flatten().collect())
    }
}

fn check_batch(events: &[UsageEvent]) -> Result<(), BillingError> {
    match (1..=MAX_BATCH).contains(&events.len()) {
        true => Ok(()),
        false => Err(BillingError::Invalid {
            field: "events",
            reason: format!("must hold 1 to {MAX_BATCH} events"),
        }),
    }
}

#[async_trait::async_trait]
impl Metering for PgBilling {
    async fn ingest(
        &self,
        caller: &Caller,
        events: Vec<UsageEvent>,
    ) -> Result<Vec<IngestOutcome>, BillingError> {
        self.submit(caller, events, &self.committer).await
    }

    async fn capture(
        &self,
        caller: &Caller,
        events: Vec<UsageEvent>,
    ) -> Result<Vec<IngestOutcome>, BillingError> {
        self.submit(caller, events, &self.capturer).await
    }

    async fn preview(
        &self,
        caller: &Caller,
        events: Vec<UsageEvent>,
    ) -> Result<Vec<RatedPreview>, BillingError> {
        self.authorized(caller, BILLING_READ, Target::Platform)
            .await?;
        check_batch(&events)?;
        let problems = self.problems(&events);
        let book = self.prices.get();
        let currency = self.settings.currency.clone();
        Ok(events
            .iter()
            .zip(problems)
            .map(|(event, problem)| preview_one(&book, event, problem, &currency))
            .collect())
    }

    async fn usage_totals(
        &self,
        caller: &Caller,
        organization: &str,
        period: Period,
    ) -> Result<Vec<UsageTotal>, BillingError> {
        let place = self
            .authorized(caller, BILLING_READ, Target::org(organization))
            .await?;
        let org = place.org()?.id;
        self.db
            .run(move |conn| Ok(super::quota_feed::totals(conn, org, period)?))
            .await
    }

    async fn rate_unrated(&self, caller: &Caller) -> Result<usize, BillingError> {
        self.authorized(caller, BILLING_ADJUST, Target::Platform)
            .await?;
        let (writer, guard) = (self.writer.clone(), self.guard.clone());
        let (audit, actor) = (self.with.audit.clone(), caller.actor());
        let rated = self
            .db
            .run(move |conn| {
                committing(conn, &guard, |conn| {
                    let (rated, debits) =
                        super::rerate::run(conn, &writer, audit.as_ref(), &actor)?;
                    Ok((rated, debits))
                })
            })
            .await?;
        if rated > 0 {
            self.reload_funds().await?;
        }
        Ok(rated)
    }

    async fn unrated(
        &self,
        caller: &Caller,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<UnratedUsage>, BillingError> {
        self.authorized(caller, BILLING_READ, Target::Platform)
            .await?;
        self.db
            .run(move |conn| Ok(super::ledger_reads::unrated(conn, after, limit)?))
            .await
    }
}

fn preview_one(
    book: &PriceBook,
    event: &UsageEvent,
    problem: Option<String>,
    currency: &str,
) -> RatedPreview {
    let price = problem
        .is_none()
        .then(|| {
            let fact = rating::Fact::of(event, currency);
            book.price_at(fact.key, fact.occurred_at)
        })
        .flatten();
    let amount = price.and_then(|p| super::super::money::rate(event.quantity, p.unit_price_minor));
    let problem = problem.or_else(|| {
        price
            .is_none()
            .then(|| "no price covers it: it would be accepted unrated".to_owned())
    });
    RatedPreview {
        event_id: event.event_id.clone(),
        price_id: price.map(|p| p.id),
        currency: currency.to_owned(),
        unit_price_minor: price.map(|p| p.unit_price_minor),
        amount_minor: amount,
        problem,
    }
}
