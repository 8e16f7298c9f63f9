//! The analytics batch's request rows as one `INSERT ... SELECT FROM unnest(arrays)`: a
//! column is one bound array, so a batch of up to 2,000 requests is one statement of 22
//! parameters. As a multi-row VALUES it bound 22 parameters a request (44,000 for a full
//! batch), and PostgreSQL parsed and planned a statement that long for every batch; under
//! the gateway bench that insert was the largest statement after the usage capture.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};

use super::analytics::Record;

/// A count as PostgreSQL's bigint, saturating.
pub(super) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts the records' rows, skipping request ids already stored.
pub(super) fn insert(conn: &mut PgConnection, records: &[Record]) -> QueryResult<usize> {
    let column = |f: fn(&Record) -> i64| records.iter().map(f).collect::<Vec<_>>();
    let optional = |f: fn(&Record) -> Option<i64>| records.iter().map(f).collect::<Vec<_>>();
    diesel::sql_query(
        "INSERT INTO token_factory.requests (request_id, occurred_at, organization_id, \
           department_id, project_id, key_prefix, route, model, endpoint, status, error_code, \
           stream, input_tokens, output_tokens, estimated, upstream_input_tokens, \
           upstream_output_tokens, counted_input_tokens, counted_output_tokens, latency_us, \
           overhead_us, first_token_us) \
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], \
           $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::text[], $12::bool[], \
           $13::int8[], $14::int8[], $15::bool[], $16::int8[], $17::int8[], $18::int8[], \
           $19::int8[], $20::int8[], $21::int8[], $22::int8[]) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind::<Array<Text>, _>(
        records
            .iter()
            .map(|r| r.request_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamptz>, _>(records.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(
        records
            .iter()
            .map(|r| r.organization_id)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<SqlUuid>, _>(records.iter().map(|r| r.department_id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(records.iter().map(|r| r.project_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        records
            .iter()
            .map(|r| r.key_prefix.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(records.iter().map(|r| r.route).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        records
            .iter()
            .map(|r| r.model.as_ref())
            .collect::<Vec<&str>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(
        records
            .iter()
            .map(|r| r.endpoint.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Int4>, _>(
        records
            .iter()
            .map(|r| i32::from(r.status))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(records.iter().map(|r| r.error_code).collect::<Vec<_>>())
    .bind::<Array<Bool>, _>(records.iter().map(|r| r.stream).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(column(|r| big(r.input_tokens)))
    .bind::<Array<BigInt>, _>(column(|r| big(r.output_tokens)))
    .bind::<Array<Bool>, _>(records.iter().map(|r| r.estimated).collect::<Vec<_>>())
    .bind::<Array<Nullable<BigInt>>, _>(optional(|r| r.reported.map(|(i, _)| big(i))))
    .bind::<Array<Nullable<BigInt>>, _>(optional(|r| r.reported.map(|(_, o)| big(o))))
    .bind::<Array<BigInt>, _>(column(|r| big(r.counted.0)))
    .bind::<Array<BigInt>, _>(column(|r| big(r.counted.1)))
    .bind::<Array<BigInt>, _>(column(|r| r.latency_us))
    .bind::<Array<BigInt>, _>(column(|r| r.overhead_us))
    .bind::<Array<Nullable<BigInt>>, _>(optional(|r| r.first_token_us))
    .execute(conn)
}
