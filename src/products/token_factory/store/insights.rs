//! `Analytics`: reads of the request records and their roll-ups.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text, Timestamptz, Uuid as SqlUuid};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::TfError;
use super::super::analytics::{
    Analytics, CountComparison, DailyModelUsage, FailedRequest, USAGE_READ,
};
use super::super::schema::requests;
use super::TokenFactory;
use crate::platform::iam::{Caller, Target};

fn check_days(days: u16) -> Result<i64, TfError> {
    match (1..=366).contains(&days) {
        true => Ok(i64::from(days)),
        false => Err(TfError::invalid("days", "must be 1 to 366")),
    }
}

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = Text)]
    day: String,
    #[diesel(sql_type = Text)]
    model: String,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    errors: i64,
    #[diesel(sql_type = BigInt)]
    input_tokens: i64,
    #[diesel(sql_type = BigInt)]
    output_tokens: i64,
    #[diesel(sql_type = Double)]
    mean_latency_ms: f64,
    #[diesel(sql_type = Double)]
    mean_overhead_ms: f64,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Text)]
    model: String,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    reported_input: i64,
    #[diesel(sql_type = BigInt)]
    counted_input: i64,
    #[diesel(sql_type = BigInt)]
    reported_output: i64,
    #[diesel(sql_type = BigInt)]
    counted_output: i64,
    #[diesel(sql_type = BigInt)]
    estimated_requests: i64,
}

#[async_trait::async_trait]
impl Analytics for TokenFactory {
    async fn daily_usage(
        &self,
        caller: &Caller,
        organization: &str,
        days: u16,
    ) -> Result<Vec<DailyModelUsage>, TfError> {
        let days = check_days(days)?;
        let place = self
            .with
            .access
            .authorize(caller, USAGE_READ, Target::org(organization))
            .await?;
        let org = place.org()?.id;
        let since = self.with.clock.now() - Duration::days(days - 1);
        let rows: Vec<DayRow> = self
            .db
            .run(move |conn| {
                diesel::sql_query(
                    "SELECT to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, model, \
                     sum(requests)::bigint AS requests, sum(errors)::bigint AS errors, \
                     sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, \
                     (sum(latency_us_sum)::float8 / greatest(sum(requests), 1) / 1000) AS mean_latency_ms, \
                     (sum(overhead_us_sum)::float8 / greatest(sum(requests), 1) / 1000) AS mean_overhead_ms \
                     FROM token_factory.rollups WHERE granularity = 'day' AND organization_id = $1 \
                     AND bucket_start >= date_trunc('day', $2 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' \
                     GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 10000",
                )
                .bind::<SqlUuid, _>(org)
                .bind::<Timestamptz, _>(since)
                .load(conn)
                .map_err(TfError::from)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| DailyModelUsage {
                day: r.day,
                model: r.model,
                requests: r.requests,
                errors: r.errors,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                mean_latency_ms: r.mean_latency_ms,
                mean_overhead_ms: r.mean_overhead_ms,
            })
            .collect())
    }

    async fn failures(
        &self,
        caller: &Caller,
        before: Option<String>,
        limit: usize,
    ) -> Result<Vec<FailedRequest>, TfError> {
        self.with
            .access
            .authorize(caller, USAGE_READ, Target::Platform)
            .await?;
        let limit = i64::try_from(limit.min(1000)).unwrap_or(1000);
        type Row = (
            String,
            OffsetDateTime,
            Uuid,
            Uuid,
            String,
            String,
            Option<String>,
            i32,
            Option<String>,
            i64,
        );
        let rows: Vec<Row> = self
            .db
            .run(move |conn| {
                let mut query = requests::table
                    .filter(requests::status.ge(400))
                    .order(requests::request_id.desc())
                    .select((
                        requests::request_id,
                        requests::occurred_at,
                        requests::organization_id,
                        requests::project_id,
                        requests::key_prefix,
                        requests::model,
                        requests::endpoint,
                        requests::status,
                        requests::error_code,
                        requests::latency_us,
                    ))
                    .limit(limit)
                    .into_boxed();
                if let Some(before) = before {
                    query = query.filter(requests::request_id.lt(before));
                }
                query.load(conn).map_err(TfError::from)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| FailedRequest {
                request_id: r.0,
                occurred_at: r.1,
                organization_id: r.2,
                project_id: r.3,
                key_prefix: r.4,
                model: r.5,
                endpoint: r.6,
                status: r.7,
                error_code: r.8,
                latency_ms: r.9 as f64 / 1000.0,
            })
            .collect())
    }

    async fn counts(&self, caller: &Caller, days: u16) -> Result<Vec<CountComparison>, TfError> {
        let days = check_days(days)?;
        self.with
            .access
            .authorize(caller, USAGE_READ, Target::Platform)
            .await?;
        let since = self.with.clock.now() - Duration::days(days);
        let rows: Vec<CountRow> = self
            .db
            .run(move |conn| {
                diesel::sql_query(
                    "SELECT model, count(*) FILTER (WHERE upstream_input_tokens IS NOT NULL)::bigint AS requests, \
                     coalesce(sum(upstream_input_tokens), 0)::bigint AS reported_input, \
                     coalesce(sum(counted_input_tokens) FILTER (WHERE upstream_input_tokens IS NOT NULL), 0)::bigint AS counted_input, \
                     coalesce(sum(upstream_output_tokens), 0)::bigint AS reported_output, \
                     coalesce(sum(counted_output_tokens) FILTER (WHERE upstream_output_tokens IS NOT NULL), 0)::bigint AS counted_output, \
                     count(*) FILTER (WHERE estimated AND status < 400)::bigint AS estimated_requests \
                     FROM token_factory.requests WHERE occurred_at >= $1 GROUP BY model ORDER BY model LIMIT 1000",
                )
                .bind::<Timestamptz, _>(since)
                .load(conn)
                .map_err(TfError::from)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| CountComparison {
                model: r.model,
                requests: r.requests,
                reported_input: r.reported_input,
                counted_input: r.counted_input,
                reported_output: r.reported_output,
                counted_output: r.counted_output,
                estimated_requests: r.estimated_requests,
            })
            .collect())
    }
}
