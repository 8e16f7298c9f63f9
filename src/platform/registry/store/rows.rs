//! Row types of the registry tables.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::schema::{entries, products, revisions};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub lifecycle: String,
    pub declared_lifecycle: String,
    pub identity: serde_json::Value,
    pub ownership: serde_json::Value,
    pub current_revision_id: Uuid,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = revisions)]
pub struct RevisionRow {
    pub id: Uuid,
    pub product_id: String,
    pub number: i32,
    pub sha256: String,
    pub format: String,
    pub source: String,
    pub normalized: serde_json::Value,
    pub diff: serde_json::Value,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = entries)]
pub struct EntryRow {
    pub family: String,
    pub id: String,
    pub product_id: String,
    pub version: i32,
    pub state: String,
    pub description: String,
    pub attributes: serde_json::Value,
    pub not_applicable: Option<serde_json::Value>,
    pub revision_id: Uuid,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}
