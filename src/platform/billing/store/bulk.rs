//! The statements a group commit writes most rows with, as one `INSERT ... SELECT FROM
//! unnest(arrays)` each: a column is one bound array, so a group of any size is one
//! statement of a fixed number of parameters (a multi-row VALUES binds one parameter per
//! field, hits PostgreSQL's 65,535 limit at ~3,600 usage rows, and spends its time binding).

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{
    Array, Int4, Jsonb, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{RatingRow, UsageRow};

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// The usage rows' sixteen columns as arrays, bound as `$1` to `$16` in this order.
const USAGE_ARRAYS: &str = "$1::uuid[], $2::text[], $3::text[], $4::text[], $5::numeric[], \
    $6::uuid[], $7::uuid[], $8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[], \
    $13::text[], $14::timestamptz[], $15::text[], $16::jsonb[]";

/// Inserts the rows whose (product, event id) is new; returns the ids inserted.
pub fn insert_usage(
    conn: &mut PgConnection,
    rows: &[UsageRow<'_>],
    batch: Uuid,
    now: OffsetDateTime,
) -> QueryResult<Vec<Uuid>> {
    let sql = format!(
        "INSERT INTO billing.usage_events (id, product, event_id, unit, quantity, organization_id, \
           department_id, project_id, actor_kind, actor_id, resource_type, resource_id, usage_source, \
           occurred_at, correlation_id, attributes, received_at, batch_id) \
         SELECT u.*, $17, $18 FROM unnest({USAGE_ARRAYS}) AS u \
         ON CONFLICT (product, event_id) DO NOTHING RETURNING id"
    );
    let inserted: Vec<Inserted> = bind_usage(diesel::sql_query(sql).into_boxed(), rows)
        .bind::<Timestamptz, _>(now)
        .bind::<SqlUuid, _>(batch)
        .load(conn)?;
    Ok(inserted.into_iter().map(|i| i.id).collect())
}

/// Captures the rows whose (product, event id) is new, in one statement committing on its
/// own (`billing.capture_usage`): with them the quota feed's totals, and a capture row
/// under `journals`' id for each organization that had new usage. Returns the ids
/// inserted.
pub fn capture_usage(
    conn: &mut PgConnection,
    rows: &[UsageRow<'_>],
    (batch, now): (Uuid, OffsetDateTime),
    journals: &[(Uuid, Uuid)],
) -> QueryResult<Vec<Uuid>> {
    let sql = format!(
        "SELECT c.id FROM billing.capture_usage({USAGE_ARRAYS}, $17, $18, $19, $20) AS c (id)"
    );
    let inserted: Vec<Inserted> = bind_usage(diesel::sql_query(sql).into_boxed(), rows)
        .bind::<Timestamptz, _>(now)
        .bind::<SqlUuid, _>(batch)
        .bind::<Array<SqlUuid>, _>(journals.iter().map(|j| j.1).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(journals.iter().map(|j| j.0).collect::<Vec<_>>())
        .load(conn)?;
    Ok(inserted.into_iter().map(|i| i.id).collect())
}

/// Binds `rows` as the sixteen arrays of `USAGE_ARRAYS`.
fn bind_usage<'a>(
    query: BoxedSqlQuery<'a, Pg, SqlQuery>,
    rows: &'a [UsageRow<'a>],
) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
    query
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.product).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.unit).collect::<Vec<_>>())
        .bind::<Array<Numeric>, _>(rows.iter().map(|r| r.quantity).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.organization_id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.department_id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.project_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.actor_kind).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.actor_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.resource_type).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.resource_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.usage_source).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.correlation_id).collect::<Vec<_>>())
        .bind::<Array<Jsonb>, _>(
            rows.iter()
                .map(|r| r.attributes.clone())
                .collect::<Vec<_>>(),
        )
}

/// Inserts ratings, all in one currency and at one instant.
pub fn insert_ratings(conn: &mut PgConnection, rows: &[RatingRow]) -> QueryResult<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    diesel::sql_query(
        "INSERT INTO billing.ratings (usage_id, price_id, price_version, unit_price_minor, amount_minor, \
           journal_id, currency, rated_at) \
         SELECT r.*, $7, $8 FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::numeric[], \
           $5::numeric[], $6::uuid[]) AS r",
    )
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.usage_id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.price_id).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(rows.iter().map(|r| r.price_version).collect::<Vec<_>>())
    .bind::<Array<Numeric>, _>(rows.iter().map(|r| r.unit_price_minor).collect::<Vec<_>>())
    .bind::<Array<Numeric>, _>(rows.iter().map(|r| r.amount_minor).collect::<Vec<_>>())
    .bind::<Array<Nullable<SqlUuid>>, _>(rows.iter().map(|r| r.journal_id).collect::<Vec<_>>())
    .bind::<Text, _>(&first.currency)
    .bind::<Timestamptz, _>(first.rated_at)
    .execute(conn)?;
    Ok(())
}
