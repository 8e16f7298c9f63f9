//! `Statements`: a month of an organization's ledger, and reconciliation of the whole
//! ledger against the invariants billing promises.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::super::statement::{
    DailyUsage, Movement, Reconciliation, Statement, UsageLine, Violation,
};
use super::super::{BILLING_READ, BillingError, Period, Statements};
use super::PgBilling;
use crate::platform::iam::{Caller, Target};

#[async_trait::async_trait]
impl Statements for PgBilling {
    async fn statement(
        &self,
        caller: &Caller,
        organization: &str,
        period: Period,
    ) -> Result<Statement, BillingError> {
        let place = self
            .authorized(caller, BILLING_READ, Target::org(organization))
            .await?;
        let org = place.org()?.id;
        let currency = self.settings.currency.clone();
        self.db
            .run(move |conn| Ok(statement_on(conn, org, &currency, period)?))
            .await
    }

    async fn daily_usage(
        &self,
        caller: &Caller,
        organization: &str,
        days: u16,
    ) -> Result<Vec<DailyUsage>, BillingError> {
        if !(1..=366).contains(&days) {
            return Err(BillingError::Invalid {
                field: "days",
                reason: "must be 1 to 366".into(),
            });
        }
        let place = self
            .authorized(caller, BILLING_READ, Target::org(organization))
            .await?;
        let org = place.org()?.id;
        let since = self.with.clock.now() - time::Duration::days(i64::from(days));
        self.db
            .run(move |conn| Ok::<_, BillingError>(daily_on(conn, org, since)?))
            .await
    }

    async fn reconcile(&self, caller: &Caller) -> Result<Reconciliation, BillingError> {
        self.authorized(caller, BILLING_READ, Target::Platform)
            .await?;
        let grace = self.settings.unrated_grace_minutes;
        let now = self.with.clock.now();
        let mut report = self
            .db
            .run(move |conn| Ok::<_, BillingError>(super::reconcile::run(conn, now, grace)?))
            .await?;
        report.checks.push("funds_in_memory_equal_postings".into());
        report.violations.extend(self.stale_funds().await?);
        Ok(report)
    }
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = Nullable<Numeric>)]
    total: Option<Decimal>,
}

#[derive(QueryableByName)]
struct KindTotal {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Numeric>)]
    total: Option<Decimal>,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    product: String,
    #[diesel(sql_type = Text)]
    unit: String,
    #[diesel(sql_type = Text)]
    resource_type: String,
    #[diesel(sql_type = Text)]
    resource_id: String,
    #[diesel(sql_type = Numeric)]
    quantity: Decimal,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// Money the organization held (prepaid + promotional) before `at`.
fn held_before(
    conn: &mut PgConnection,
    org: Uuid,
    currency: &str,
    at: time::OffsetDateTime,
) -> QueryResult<Decimal> {
    let total: Total = diesel::sql_query(
        "SELECT sum(p.amount_minor) AS total FROM billing.postings p \
         JOIN billing.journal j ON j.id = p.journal_id JOIN billing.accounts a ON a.id = p.account_id \
         WHERE a.organization_id = $1 AND a.currency = $2 AND a.kind IN ('prepaid', 'promotional') AND j.created_at < $3",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(currency)
    .bind::<Timestamptz, _>(at)
    .get_result(conn)?;
    Ok(total.total.unwrap_or_default().normalize())
}

fn statement_on(
    conn: &mut PgConnection,
    org: Uuid,
    currency: &str,
    period: Period,
) -> QueryResult<Statement> {
    let (from, to) = period.bounds();
    let movements: Vec<KindTotal> = diesel::sql_query(
        "SELECT j.kind, sum(p.amount_minor) AS total FROM billing.postings p \
         JOIN billing.journal j ON j.id = p.journal_id JOIN billing.accounts a ON a.id = p.account_id \
         WHERE a.organization_id = $1 AND a.currency = $2 AND a.kind IN ('prepaid', 'promotional') \
           AND j.created_at >= $3 AND j.created_at < $4 GROUP BY j.kind ORDER BY j.kind",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(currency)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)?;
    let usage: Vec<Line> = diesel::sql_query(
        "SELECT u.product, u.unit, u.resource_type, u.resource_id, sum(u.quantity) AS quantity, \
                sum(r.amount_minor) AS amount \
         FROM billing.ratings r JOIN billing.usage_events u ON u.id = r.usage_id \
         LEFT JOIN billing.journal j ON j.id = r.journal_id \
         WHERE u.organization_id = $1 AND r.currency = $2 \
           AND coalesce(j.created_at, r.rated_at) >= $3 AND coalesce(j.created_at, r.rated_at) < $4 \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(currency)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)?;
    Ok(Statement {
        organization_id: org,
        period: period.to_string(),
        currency: currency.to_owned(),
        opening_minor: held_before(conn, org, currency, from)?,
        movements: movements
            .into_iter()
            .map(|m| Movement {
                kind: m.kind,
                amount_minor: m.total.unwrap_or_default().normalize(),
            })
            .collect(),
        usage: usage
            .into_iter()
            .map(|l| UsageLine {
                product: l.product,
                unit: l.unit,
                resource_type: l.resource_type,
                resource_id: l.resource_id,
                quantity: l.quantity.normalize(),
                amount_minor: l.amount.normalize(),
            })
            .collect(),
        closing_minor: held_before(conn, org, currency, to)?,
    })
}

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = Text)]
    day: String,
    #[diesel(sql_type = Text)]
    resource_id: String,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

fn daily_on(
    conn: &mut PgConnection,
    org: Uuid,
    since: time::OffsetDateTime,
) -> QueryResult<Vec<DailyUsage>> {
    let rows: Vec<DayRow> = diesel::sql_query(
        "SELECT to_char(u.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, u.resource_id, \
                sum(r.amount_minor) AS amount \
         FROM billing.ratings r JOIN billing.usage_events u ON u.id = r.usage_id \
         WHERE u.organization_id = $1 AND u.occurred_at >= $2 GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Timestamptz, _>(since)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| DailyUsage {
            day: r.day,
            resource_id: r.resource_id,
            amount_minor: r.amount.normalize(),
        })
        .collect())
}

impl PgBilling {
    /// Organizations whose in-memory funds (what the spend guard answers from) differ from
    /// their postings even after a reload: a snapshot that stopped following the ledger.
    async fn stale_funds(&self) -> Result<Vec<Violation>, BillingError> {
        let mut stale = self.funds_differing().await?;
        if !stale.is_empty() {
            self.reload_funds().await?;
            stale = self.funds_differing().await?;
        }
        Ok(stale
            .into_iter()
            .map(|org| Violation {
                check: "funds_in_memory_equal_postings".into(),
                detail: format!(
                    "organization {org}: the spend guard's funds differ from its postings"
                ),
            })
            .collect())
    }

    async fn funds_differing(&self) -> Result<Vec<Uuid>, BillingError> {
        let currency = self.settings.currency.clone();
        let derived = self
            .db
            .run(move |conn| Ok::<_, BillingError>(super::funds_load::load(conn, None, &currency)?))
            .await?;
        let memory = self.funds.get();
        let now = self.with.clock.now();
        let mut orgs: Vec<Uuid> = derived.keys().chain(memory.orgs.keys()).copied().collect();
        orgs.sort_unstable();
        orgs.dedup();
        Ok(orgs
            .into_iter()
            .filter(|org| {
                let held = |f: Option<&super::super::funds::OrgFunds>| f.map(|f| f.available(now));
                held(derived.get(org)) != held(memory.orgs.get(org))
            })
            .collect())
    }
}
