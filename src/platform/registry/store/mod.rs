//! `PgRegistry`: the registry over PostgreSQL schema `registry`. The only code that names
//! the registry's tables (with its submodules).

mod onboard;
mod reads;
mod rows;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use diesel::prelude::*;

use super::packet::Packet;
use super::records::Flattened;
use super::schema::{entries, products};
use super::snapshot::{self, Active};
use super::validate::{self, Known};
use super::{
    ActiveEntry, EntryFilter, EntryView, OnboardOutcome, PacketSource, ProductDetail,
    ProductSummary, Registry, RegistryError, Review, RevisionView, review,
};
use crate::base::clock::Clock;
use crate::base::db::Db;
use crate::base::db::snapshot::Snapshot;
use crate::platform::audit::{Actor, Audit};
use crate::platform::events::Events;

/// The registry backed by PostgreSQL, with its in-memory snapshot of active entries.
pub struct PgRegistry {
    db: Db,
    clock: Arc<dyn Clock>,
    snapshot: Snapshot<Active>,
    // Set once after start: audit and events themselves look names up in the registry.
    collaborators: OnceLock<Collaborators>,
}

/// The modules onboarding writes through, in its own transaction.
#[derive(Clone)]
pub(super) struct Collaborators {
    pub audit: Arc<dyn Audit>,
    pub events: Arc<dyn Events>,
}

impl PgRegistry {
    /// Loads the snapshot and starts keeping it fresh from `url`'s notifications.
    pub async fn start(
        db: Db,
        url: String,
        clock: Arc<dyn Clock>,
    ) -> Result<PgRegistry, RegistryError> {
        let snapshot = Snapshot::start(db.clone(), url, snapshot::FRESHNESS, |conn| {
            Ok(load_active(conn)?)
        })
        .await?;
        Ok(PgRegistry {
            db,
            clock,
            snapshot,
            collaborators: OnceLock::new(),
        })
    }

    /// Stops the listener that keeps the snapshot fresh, at shutdown; the snapshot keeps
    /// its last state.
    pub fn stop(&self) {
        self.snapshot.stop();
    }

    /// Connects audit custody and the outbox; onboarding refuses to run without them.
    pub fn attach(&self, audit: Arc<dyn Audit>, events: Arc<dyn Events>) {
        if self
            .collaborators
            .set(Collaborators { audit, events })
            .is_err()
        {
            log::warn!("registry: audit and events were already attached");
        }
    }
}

type ActiveRow = (String, String, i32, serde_json::Value, String);

/// Active entries of products that are not retired: (family, id, version, attributes,
/// product).
#[diesel::dsl::auto_type(no_type_alias)]
fn active_rows() -> _ {
    let active: &'static str = "active";
    let retired: &'static str = "retired";
    entries::table
        .inner_join(products::table.on(products::id.eq(entries::product_id)))
        .filter(entries::state.eq(active))
        .filter(products::lifecycle.ne(retired))
        .select((
            entries::family,
            entries::id,
            entries::version,
            entries::attributes,
            entries::product_id,
        ))
}

/// Active entries of products that are not retired.
fn load_active(conn: &mut PgConnection) -> QueryResult<Active> {
    let rows: Vec<ActiveRow> = active_rows().load(conn)?;
    let mut active = Active::new();
    for (family, id, version, attributes, product) in rows {
        active.entry(family).or_default().insert(
            id,
            ActiveEntry {
                version,
                attributes,
                product,
            },
        );
    }
    Ok(active)
}

/// Active entries of every product but one: what a packet may refer to.
pub(super) struct OtherEntries {
    entries: Vec<(String, String, serde_json::Value)>,
    ids: HashSet<(String, String)>,
}

impl Known for OtherEntries {
    fn knows(&self, family: &str, id: &str) -> bool {
        self.ids.contains(&(family.to_owned(), id.to_owned()))
    }
}

fn other_products_entries(conn: &mut PgConnection, product_id: &str) -> QueryResult<OtherEntries> {
    let entries: Vec<(String, String, serde_json::Value)> = entries::table
        .filter(entries::product_id.ne(product_id))
        .filter(entries::state.eq("active"))
        .select((entries::family, entries::id, entries::attributes))
        .load(conn)?;
    let ids = entries
        .iter()
        .map(|(f, i, _)| (f.clone(), i.clone()))
        .collect();
    Ok(OtherEntries { entries, ids })
}

/// Entries a reviewed packet may refer to: other products' active ones and the batch's.
struct KnownIds(HashSet<(String, String)>);

impl Known for KnownIds {
    fn knows(&self, family: &str, id: &str) -> bool {
        self.0.contains(&(family.to_owned(), id.to_owned()))
    }
}

/// Parses and flattens a packet, or says where it is malformed.
pub(super) fn parse(source: &PacketSource) -> Result<(Packet, Flattened), RegistryError> {
    let packet = validate::parse(&source.origin, &source.text, source.format)
        .map_err(RegistryError::Malformed)?;
    let flat = packet.flatten();
    Ok((packet, flat))
}

/// Reviews of a batch: each packet may refer to the registry and to the others.
fn review_batch(
    conn: &mut PgConnection,
    parsed: Vec<(Packet, Flattened)>,
    today: time::Date,
) -> Result<Vec<Review>, RegistryError> {
    // One read for the whole batch: every active entry, with its product.
    let active: Vec<(String, String, String)> = entries::table
        .filter(entries::state.eq("active"))
        .select((entries::product_id, entries::family, entries::id))
        .load(conn)?;
    let mut reviews = Vec::new();
    for (index, (packet, flat)) in parsed.iter().enumerate() {
        let registered = active
            .iter()
            .filter(|(product, _, _)| *product != packet.product.id)
            .map(|(_, family, id)| (family.clone(), id.clone()));
        let batch = parsed
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .flat_map(|(_, (_, other))| {
                other
                    .records
                    .iter()
                    .map(|r| (r.family.to_owned(), r.id.clone()))
            });
        let known = KnownIds(registered.chain(batch).collect());
        let issues = validate::check(packet, flat, &known);
        reviews.push(review::review(packet, flat, issues, today));
    }
    Ok(reviews)
}

#[async_trait::async_trait]
impl Registry for PgRegistry {
    fn is_active(&self, family: &str, id: &str) -> bool {
        snapshot::has(&self.snapshot, family, id)
    }

    fn active_entry(&self, family: &str, id: &str) -> Option<ActiveEntry> {
        snapshot::entry(&self.snapshot, family, id)
    }

    fn generation(&self) -> u64 {
        self.snapshot.generation()
    }

    fn active_entries(&self, family: &str) -> Vec<(String, ActiveEntry)> {
        snapshot::entries(&self.snapshot, family)
    }

    fn active_entry_in(
        &self,
        conn: &mut PgConnection,
        family: &str,
        id: &str,
    ) -> Result<Option<ActiveEntry>, RegistryError> {
        let row: Option<ActiveRow> = active_rows()
            .filter(entries::family.eq(family))
            .filter(entries::id.eq(id))
            .first(conn)
            .optional()?;
        Ok(row.map(|(_, _, version, attributes, product)| ActiveEntry {
            version,
            attributes,
            product,
        }))
    }

    async fn review(&self, sources: Vec<PacketSource>) -> Result<Vec<Review>, RegistryError> {
        let parsed = sources.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let today = self.clock.now().date();
        self.db
            .run(move |conn| review_batch(conn, parsed, today))
            .await
    }

    async fn review_product(&self, slug: &str) -> Result<Review, RegistryError> {
        let slug = slug.to_owned();
        let source = self
            .db
            .run(move |conn| reads::current_source(conn, &slug))
            .await?;
        let mut reviews = self.review(vec![source]).await?;
        reviews
            .pop()
            .ok_or_else(|| RegistryError::Invalid(Vec::new()))
    }

    async fn onboard(
        &self,
        source: PacketSource,
        actor: Actor,
    ) -> Result<OnboardOutcome, RegistryError> {
        let (packet, flat) = parse(&source)?;
        let collaborators = self.collaborators.get().cloned().ok_or_else(|| {
            RegistryError::Db(crate::base::db::DbError::Aborted(
                "audit and events are not attached to the registry".into(),
            ))
        })?;
        let prepared = onboard::Prepared {
            source,
            packet,
            flat,
            now: self.clock.now(),
            collaborators,
            actor,
        };
        let outcome = self
            .db
            .run(move |conn| onboard::onboard(conn, prepared))
            .await?;
        if !outcome.unchanged {
            // Our own lookups see the change at once; other processes via NOTIFY.
            self.snapshot.reload().await?;
        }
        Ok(outcome)
    }

    async fn products(&self) -> Result<Vec<ProductSummary>, RegistryError> {
        self.db.run(reads::products).await
    }

    async fn product(&self, slug: &str) -> Result<ProductDetail, RegistryError> {
        let slug = slug.to_owned();
        self.db.run(move |conn| reads::product(conn, &slug)).await
    }

    async fn revisions(&self, slug: &str) -> Result<Vec<RevisionView>, RegistryError> {
        let slug = slug.to_owned();
        self.db.run(move |conn| reads::revisions(conn, &slug)).await
    }

    async fn entries(
        &self,
        family: &str,
        filter: EntryFilter,
    ) -> Result<Vec<EntryView>, RegistryError> {
        if !super::FAMILY_ORDER.contains(&family) {
            return Err(RegistryError::NotFound(format!(
                "no registry family `{family}`; families are: {}",
                super::FAMILY_ORDER.join(", ")
            )));
        }
        let family = family.to_owned();
        self.db
            .run(move |conn| reads::entries(conn, &family, &filter))
            .await
    }
}
