//! Read queries: products, revisions, entries.

use diesel::prelude::*;

use super::super::schema::{entries, products, revisions};
use super::super::{
    Diff, EntryFilter, EntryView, FamilyCount, Format, PacketSource, ProductDetail, ProductSummary,
    RegistryError, RevisionView,
};
use super::rows::{EntryRow, ProductRow, RevisionRow};

fn find(conn: &mut PgConnection, slug: &str) -> Result<ProductRow, RegistryError> {
    products::table
        .filter(products::slug.eq(slug))
        .select(ProductRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(format!("no product `{slug}`")))
}

fn summary(conn: &mut PgConnection, row: &ProductRow) -> Result<ProductSummary, RegistryError> {
    let revision: i32 = revisions::table
        .find(row.current_revision_id)
        .select(revisions::number)
        .first(conn)?;
    Ok(ProductSummary {
        id: row.id.clone(),
        slug: row.slug.clone(),
        name: row.name.clone(),
        lifecycle: row.lifecycle.clone(),
        declared_lifecycle: row.declared_lifecycle.clone(),
        revision,
        updated_at: row.updated_at,
    })
}

pub fn products(conn: &mut PgConnection) -> Result<Vec<ProductSummary>, RegistryError> {
    let rows: Vec<ProductRow> = products::table
        .order(products::slug)
        .select(ProductRow::as_select())
        .load(conn)?;
    rows.iter().map(|row| summary(conn, row)).collect()
}

pub fn product(conn: &mut PgConnection, slug: &str) -> Result<ProductDetail, RegistryError> {
    let row = find(conn, slug)?;
    let counts: Vec<(String, String, i64)> = entries::table
        .filter(entries::product_id.eq(&row.id))
        .group_by((entries::family, entries::state))
        .select((entries::family, entries::state, diesel::dsl::count_star()))
        .order((entries::family, entries::state))
        .load(conn)?;
    Ok(ProductDetail {
        summary: summary(conn, &row)?,
        description: row.description.clone(),
        identity: row.identity.clone(),
        ownership: row.ownership.clone(),
        entry_counts: counts
            .into_iter()
            .map(|(family, state, count)| FamilyCount {
                family,
                state,
                count,
            })
            .collect(),
    })
}

pub fn revisions(conn: &mut PgConnection, slug: &str) -> Result<Vec<RevisionView>, RegistryError> {
    let row = find(conn, slug)?;
    let rows: Vec<RevisionRow> = revisions::table
        .filter(revisions::product_id.eq(&row.id))
        .order(revisions::number.desc())
        .select(RevisionRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| RevisionView {
            id: r.id,
            number: r.number,
            sha256: r.sha256,
            format: r.format,
            diff: serde_json::from_value::<Diff>(r.diff).unwrap_or_default(),
            created_at: r.created_at,
        })
        .collect())
}

pub fn current_source(conn: &mut PgConnection, slug: &str) -> Result<PacketSource, RegistryError> {
    let row = find(conn, slug)?;
    let revision: RevisionRow = revisions::table
        .find(row.current_revision_id)
        .select(RevisionRow::as_select())
        .first(conn)?;
    Ok(PacketSource {
        origin: format!("{slug} revision {}", revision.number),
        text: revision.source,
        format: if revision.format == "json" {
            Format::Json
        } else {
            Format::Toml
        },
    })
}

pub fn entries(
    conn: &mut PgConnection,
    family: &str,
    filter: &EntryFilter,
) -> Result<Vec<EntryView>, RegistryError> {
    let mut query = entries::table
        .filter(entries::family.eq(family))
        .select(EntryRow::as_select())
        .order(entries::id)
        .into_boxed();
    if let Some(product) = &filter.product {
        query = query.filter(entries::product_id.eq(product));
    }
    if let Some(state) = &filter.state {
        query = query.filter(entries::state.eq(state));
    }
    let rows: Vec<EntryRow> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| EntryView {
            family: r.family,
            id: r.id,
            product_id: r.product_id,
            version: r.version,
            state: r.state,
            description: r.description,
            attributes: r.attributes,
            not_applicable: r.not_applicable,
            revision_id: r.revision_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}
