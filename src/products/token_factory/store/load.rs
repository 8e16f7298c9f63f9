//! Reads the catalog into memory (the snapshot's loader).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::ModelKind;
use super::super::catalog::{Book, Endpoint, Model, Target};
use super::super::schema::{endpoints, models};
use crate::base::db::DbError;

/// A stored model.
#[derive(Queryable, Selectable)]
#[diesel(table_name = models)]
pub struct ModelRow {
    pub id: String,
    pub display_name: String,
    pub kind: String,
    pub context_length: i32,
    pub max_output_tokens: i32,
    pub fallbacks: Vec<String>,
    pub premium: bool,
    pub state: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A stored endpoint.
#[derive(Queryable, Selectable)]
#[diesel(table_name = endpoints)]
pub struct EndpointRow {
    pub id: Uuid,
    pub model_id: String,
    pub name: String,
    pub base_url: String,
    pub upstream_model: String,
    pub credential_env: Option<String>,
    pub weight: i32,
    pub timeout_ms: i32,
    pub max_in_flight: i32,
}

/// The whole catalog.
pub fn load(conn: &mut PgConnection) -> Result<Book, DbError> {
    let rows: Vec<ModelRow> = models::table.select(ModelRow::as_select()).load(conn)?;
    let mut ends: HashMap<String, Vec<Arc<Endpoint>>> = HashMap::new();
    let endpoint_rows: Vec<EndpointRow> = endpoints::table
        .order((endpoints::model_id, endpoints::created_at, endpoints::name))
        .select(EndpointRow::as_select())
        .load(conn)?;
    for row in endpoint_rows {
        let Some(endpoint) = endpoint_of(&row) else {
            log::warn!(
                "endpoint {} of {} has an unusable base URL; skipped",
                row.name,
                row.model_id
            );
            continue;
        };
        ends.entry(row.model_id)
            .or_default()
            .push(Arc::new(endpoint));
    }
    let mut book = Book::default();
    for row in rows {
        let endpoints = ends.remove(&row.id).unwrap_or_default();
        if let Some(model) = model_of(row, endpoints) {
            book.models.insert(model.id.to_string(), Arc::new(model));
        }
    }
    Ok(book)
}

fn count(n: i32) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn model_of(row: ModelRow, endpoints: Vec<Arc<Endpoint>>) -> Option<Model> {
    Some(Model {
        kind: ModelKind::parse(&row.kind)?,
        id: row.id.as_str().into(),
        display_name: row.display_name,
        context_length: count(row.context_length),
        max_output_tokens: count(row.max_output_tokens),
        fallbacks: row.fallbacks,
        premium: row.premium,
        enabled: row.state == "enabled",
        endpoints,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn endpoint_of(row: &EndpointRow) -> Option<Endpoint> {
    Some(Endpoint {
        id: row.id,
        name: row.name.as_str().into(),
        target: Target::of(&row.base_url)?,
        base_url: row.base_url.clone(),
        upstream_model: row.upstream_model.clone(),
        credential_env: row.credential_env.clone(),
        weight: u32::try_from(row.weight).unwrap_or(1).max(1),
        timeout: Duration::from_millis(count(row.timeout_ms)),
        max_in_flight: u32::try_from(row.max_in_flight).unwrap_or(1).max(1),
    })
}
