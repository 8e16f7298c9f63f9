//! `onboard`: validate, review and activate a packet in one transaction.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::upsert::excluded;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::diff::{self, Stored};
use super::super::packet::Packet;
use super::super::records::{Flattened, Record};
use super::super::schema::{entries, products, revisions};
use super::super::snapshot::CHANNEL;
use super::super::validate::{self, references_of};
use super::super::{Diff, Format, Issue, OnboardOutcome, PacketSource, RegistryError, review};
use super::rows::{EntryRow, ProductRow, RevisionRow};
use super::{Collaborators, OtherEntries, other_products_entries};
use crate::base::encoding::sha256_hex;
use crate::platform::audit::{Actor, NewEvent};
use crate::platform::events::Message;

/// Everything onboarding needs, computed before the transaction.
pub struct Prepared {
    pub source: PacketSource,
    pub packet: Packet,
    pub flat: Flattened,
    pub now: OffsetDateTime,
    pub collaborators: Collaborators,
    pub actor: Actor,
}

pub fn onboard(
    conn: &mut PgConnection,
    prepared: Prepared,
) -> Result<OnboardOutcome, RegistryError> {
    conn.transaction(|conn| {
        let product_id = prepared.packet.product.id.clone();
        // Serialises onboards of one product across processes; the first ever onboard has
        // no row to lock yet.
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('registry:' || $1, 0))")
            .bind::<Text, _>(&product_id)
            .execute(conn)?;
        let others = other_products_entries(conn, &product_id)?;
        checked(&prepared, &others)?;
        let current = products::table
            .find(&product_id)
            .select(ProductRow::as_select())
            .first(conn)
            .optional()?;
        let normalized = serde_json::to_value(&prepared.packet).unwrap_or(Value::Null);
        if let Some(current) = &current
            && let Some(outcome) = unchanged(conn, current, &normalized, &prepared)?
        {
            return Ok(outcome);
        }
        refuse_taken_slug(conn, &prepared.packet)?;
        apply(conn, &prepared, current, normalized, &others)
    })
}

/// Validation and review against the registry as it is inside the transaction.
fn checked(prepared: &Prepared, others: &OtherEntries) -> Result<(), RegistryError> {
    let issues = validate::check(&prepared.packet, &prepared.flat, others);
    if !issues.is_empty() {
        return Err(RegistryError::Invalid(issues));
    }
    let review = review::review(
        &prepared.packet,
        &prepared.flat,
        Vec::new(),
        prepared.now.date(),
    );
    if !review.ready {
        return Err(RegistryError::NotReady(Box::new(review)));
    }
    Ok(())
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Toml => "toml",
        Format::Json => "json",
    }
}

/// The outcome for a packet equal in content to the current revision; writes nothing.
fn unchanged(
    conn: &mut PgConnection,
    current: &ProductRow,
    normalized: &Value,
    prepared: &Prepared,
) -> Result<Option<OnboardOutcome>, RegistryError> {
    let revision: RevisionRow = revisions::table
        .find(current.current_revision_id)
        .select(RevisionRow::as_select())
        .first(conn)?;
    if &revision.normalized != normalized {
        return Ok(None);
    }
    Ok(Some(OnboardOutcome {
        product_id: current.id.clone(),
        slug: current.slug.clone(),
        unchanged: true,
        revision: revision.number,
        sha256: sha256_hex(prepared.source.text.as_bytes()),
        lifecycle: current.lifecycle.clone(),
        diff: Diff::default(),
    }))
}

fn refuse_taken_slug(conn: &mut PgConnection, packet: &Packet) -> Result<(), RegistryError> {
    let slug = packet.product.slug.clone().unwrap_or_default();
    let holder: Option<String> = products::table
        .filter(products::slug.eq(&slug))
        .filter(products::id.ne(&packet.product.id))
        .select(products::id)
        .first(conn)
        .optional()?;
    match holder {
        Some(other) => Err(RegistryError::Invalid(vec![Issue {
            at: "product.slug".into(),
            message: format!("slug `{slug}` is already registered by product `{other}`"),
        }])),
        None => Ok(()),
    }
}

fn apply(
    conn: &mut PgConnection,
    prepared: &Prepared,
    current: Option<ProductRow>,
    normalized: Value,
    others: &OtherEntries,
) -> Result<OnboardOutcome, RegistryError> {
    let product_id = &prepared.packet.product.id;
    let stored = stored_entries(conn, product_id)?;
    let in_use = used_by_others(others, product_id);
    let comparison = diff::compare(&stored, &prepared.flat.records, &in_use);
    if !comparison.incompatible.is_empty() {
        return Err(RegistryError::Incompatible(comparison.incompatible));
    }
    let mut diff = comparison.diff;
    let product = product_row(prepared, current.as_ref(), Uuid::now_v7());
    diff.product = product_changes(current.as_ref(), &product);
    let number = next_revision_number(conn, product_id)?;
    insert_revision(conn, prepared, &product, number, normalized, &diff)?;
    upsert_product(conn, &product)?;
    write_entries(conn, prepared, &product, &diff)?;
    audit_onboarding(conn, prepared, &product, number, &diff)?;
    announce(conn, prepared, &product, number, &diff)?;
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
    Ok(OnboardOutcome {
        product_id: product.id.clone(),
        slug: product.slug.clone(),
        unchanged: false,
        revision: number,
        sha256: sha256_hex(prepared.source.text.as_bytes()),
        lifecycle: product.lifecycle.clone(),
        diff,
    })
}

/// The onboarding and each retirement, in this transaction: no change without its event.
fn audit_onboarding(
    conn: &mut PgConnection,
    prepared: &Prepared,
    product: &ProductRow,
    number: i32,
    diff: &Diff,
) -> Result<(), RegistryError> {
    let correlation = product.current_revision_id.to_string();
    let mut event = NewEvent::new(prepared.actor.clone(), ONBOARDED, "product", &product.id);
    event.correlation_id = Some(correlation.clone());
    event.details = json!({
        "revision": number,
        "sha256": sha256_hex(prepared.source.text.as_bytes()),
        "lifecycle": product.lifecycle,
        "added": diff.added.len(),
        "changed": diff.changed.len(),
        "retired": diff.retired.len(),
    });
    prepared.collaborators.audit.append_in(conn, event)?;
    for key in &diff.retired {
        let mut event = NewEvent::new(prepared.actor.clone(), RETIRED, "registry_entry", key);
        event.correlation_id = Some(correlation.clone());
        event.details = json!({ "product": product.id, "revision": number });
        prepared.collaborators.audit.append_in(conn, event)?;
    }
    Ok(())
}

/// Tells other modules a product's registration changed, in this transaction.
fn announce(
    conn: &mut PgConnection,
    prepared: &Prepared,
    product: &ProductRow,
    number: i32,
    diff: &Diff,
) -> Result<(), RegistryError> {
    let mut message = Message::new(
        ANNOUNCED,
        json!({
            "product_id": product.id,
            "slug": product.slug,
            "revision": number,
            "lifecycle": product.lifecycle,
            "added": diff.added,
            "changed": diff.changed,
            "retired": diff.retired,
        }),
    );
    message.correlation_id = Some(product.current_revision_id.to_string());
    prepared
        .collaborators
        .events
        .publish_in(conn, message)
        .map_err(|err| {
            RegistryError::Db(crate::base::db::DbError::Aborted(format!(
                "announcing the onboarding: {err}"
            )))
        })?;
    Ok(())
}

/// Event subject announcing an onboarding, declared by the platform's packet.
const ANNOUNCED: &str = "platform.registry.product_onboarded";

/// Audit actions the registry records, declared by the platform's packet.
const ONBOARDED: &str = "platform.product.onboarded";
const RETIRED: &str = "platform.registry_entry.retired";

fn stored_entries(conn: &mut PgConnection, product_id: &str) -> QueryResult<Vec<Stored>> {
    let rows: Vec<EntryRow> = entries::table
        .filter(entries::product_id.eq(product_id))
        .select(EntryRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Stored {
            family: r.family,
            id: r.id,
            version: r.version,
            state: r.state,
            description: r.description,
            attributes: r.attributes,
            not_applicable: r.not_applicable,
        })
        .collect())
}

/// This product's entries that other products' active entries refer to.
fn used_by_others(others: &OtherEntries, product_id: &str) -> HashSet<(String, String)> {
    let prefix = format!("{product_id}.");
    others
        .entries
        .iter()
        .flat_map(|(family, _, attributes)| references_of(family, attributes))
        .filter(|(_, id)| id.starts_with(&prefix))
        .map(|(family, id)| (family.to_owned(), id.to_owned()))
        .collect()
}

fn product_row(prepared: &Prepared, current: Option<&ProductRow>, revision_id: Uuid) -> ProductRow {
    let p = &prepared.packet.product;
    let declared = p
        .lifecycle
        .map(|l| json_name(&l))
        .unwrap_or_else(|| "onboarding".into());
    let drafts = prepared.flat.records.iter().any(|r| r.state == "draft");
    ProductRow {
        id: p.id.clone(),
        slug: p.slug.clone().unwrap_or_default(),
        name: p.name.clone().unwrap_or_default(),
        description: p.description.clone().unwrap_or_default(),
        lifecycle: if drafts {
            "onboarding".into()
        } else {
            declared.clone()
        },
        declared_lifecycle: declared,
        identity: json!({ "owners": p.owners, "personas": p.personas, "exposure": p.exposure }),
        ownership: Value::Object(prepared.flat.ownership.clone()),
        current_revision_id: revision_id,
        created_at: current.map_or(prepared.now, |c| c.created_at),
        updated_at: prepared.now,
    }
}

fn json_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn product_changes(current: Option<&ProductRow>, new: &ProductRow) -> Vec<String> {
    let Some(old) = current else {
        return vec!["registered".into()];
    };
    let fields = [
        ("slug", old.slug != new.slug),
        ("name", old.name != new.name),
        ("description", old.description != new.description),
        ("lifecycle", old.lifecycle != new.lifecycle),
        ("identity", old.identity != new.identity),
        ("ownership", old.ownership != new.ownership),
    ];
    fields
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

fn next_revision_number(conn: &mut PgConnection, product_id: &str) -> QueryResult<i32> {
    let max: Option<i32> = revisions::table
        .filter(revisions::product_id.eq(product_id))
        .select(diesel::dsl::max(revisions::number))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

fn insert_revision(
    conn: &mut PgConnection,
    prepared: &Prepared,
    product: &ProductRow,
    number: i32,
    normalized: Value,
    diff: &Diff,
) -> QueryResult<()> {
    let row = RevisionRow {
        id: product.current_revision_id,
        product_id: product.id.clone(),
        number,
        sha256: sha256_hex(prepared.source.text.as_bytes()),
        format: format_name(prepared.source.format).into(),
        source: prepared.source.text.clone(),
        normalized,
        diff: serde_json::to_value(diff).unwrap_or(Value::Null),
        created_at: prepared.now,
    };
    diesel::insert_into(revisions::table)
        .values(&row)
        .execute(conn)
        .map(|_| ())
}

fn upsert_product(conn: &mut PgConnection, product: &ProductRow) -> QueryResult<()> {
    diesel::insert_into(products::table)
        .values(product)
        .on_conflict(products::id)
        .do_update()
        .set(product)
        .execute(conn)
        .map(|_| ())
}

/// Writes added and changed entries and retires dropped ones; untouched entries keep the
/// revision that last set them.
fn write_entries(
    conn: &mut PgConnection,
    prepared: &Prepared,
    product: &ProductRow,
    diff: &Diff,
) -> QueryResult<()> {
    let touched: HashSet<&String> = diff.added.iter().chain(&diff.changed).collect();
    let rows: Vec<EntryRow> = prepared
        .flat
        .records
        .iter()
        .filter(|r| touched.contains(&format!("{}:{}", r.family, r.id)))
        .map(|r| entry_row(r, product, prepared.now))
        .collect();
    for chunk in rows.chunks(500) {
        diesel::insert_into(entries::table)
            .values(chunk)
            .on_conflict((entries::family, entries::id))
            .do_update()
            .set((
                entries::version.eq(excluded(entries::version)),
                entries::state.eq(excluded(entries::state)),
                entries::description.eq(excluded(entries::description)),
                entries::attributes.eq(excluded(entries::attributes)),
                entries::not_applicable.eq(excluded(entries::not_applicable)),
                entries::revision_id.eq(excluded(entries::revision_id)),
                entries::updated_at.eq(excluded(entries::updated_at)),
            ))
            .execute(conn)?;
    }
    for key in &diff.retired {
        let (family, id) = key.split_once(':').unwrap_or((key, ""));
        diesel::update(entries::table.find((family, id)))
            .set((
                entries::state.eq("retired"),
                entries::revision_id.eq(product.current_revision_id),
                entries::updated_at.eq(prepared.now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn entry_row(record: &Record, product: &ProductRow, now: OffsetDateTime) -> EntryRow {
    EntryRow {
        family: record.family.to_owned(),
        id: record.id.clone(),
        product_id: product.id.clone(),
        version: i32::try_from(record.version).unwrap_or(i32::MAX),
        state: record.state.to_owned(),
        description: record.description.clone(),
        attributes: record.attributes.clone(),
        not_applicable: record
            .not_applicable
            .as_ref()
            .and_then(|na| serde_json::to_value(na).ok()),
        revision_id: product.current_revision_id,
        created_at: now,
        updated_at: now,
    }
}
