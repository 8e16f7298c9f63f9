//! `PgIam`: IAM over PostgreSQL schema `iam`.

mod access;
mod accounts;
mod bindings;
mod decide;
mod grant_rules;
mod grants;
mod invitations;
mod key_rules;
mod keys;
mod last_used;
mod members;
mod people;
mod places;
mod reach;
mod read_model;
mod revocation;
mod rows;
mod service_accounts;
mod sign_in;
mod tenancy;
mod tenancy_reads;
mod throttle;

use std::sync::Arc;

pub use last_used::flush_last_used_periodically;

use diesel::PgConnection;
use uuid::Uuid;

use super::{Caller, IamError, Target};
use crate::base::clock::Clock;
use crate::base::db::Db;
use crate::base::db::snapshot::Snapshot;
use crate::platform::audit::{Actor, Audit};
use crate::platform::events::{Events, Message};
use crate::platform::registry::Registry;

/// IAM backed by PostgreSQL, with the key read model in memory.
#[derive(Clone)]
pub struct PgIam {
    db: Db,
    audit: Arc<dyn Audit>,
    events: Arc<dyn Events>,
    registry: Arc<dyn Registry>,
    clock: Arc<dyn Clock>,
    keys: Snapshot<read_model::Keys>,
    places: Snapshot<places::Places>,
    last_used: Arc<last_used::LastUsed>,
}

impl PgIam {
    /// IAM over `db`: loads the key read model and keeps it fresh from `url`'s notifications.
    pub async fn start(
        db: Db,
        url: String,
        audit: Arc<dyn Audit>,
        events: Arc<dyn Events>,
        registry: Arc<dyn Registry>,
        clock: Arc<dyn Clock>,
    ) -> Result<PgIam, IamError> {
        let narrowing = Arc::clone(&registry);
        let url_again = url.clone();
        let keys = Snapshot::start(db.clone(), url, read_model::FRESHNESS, move |conn| {
            Ok(load_keys(conn, narrowing.as_ref())?)
        })
        .await?;
        let places = Snapshot::start(db.clone(), url_again, places::FRESHNESS, |conn| {
            Ok(places::load(conn)?)
        })
        .await?;
        Ok(PgIam {
            db,
            audit,
            events,
            registry,
            clock,
            keys,
            places,
            last_used: Arc::default(),
        })
    }
}

impl PgIam {
    /// Announces an IAM change on the outbox, in the caller's transaction (subjects are the
    /// platform packet's `platform.iam.*` events).
    fn announce(
        &self,
        conn: &mut diesel::PgConnection,
        subject: &str,
        payload: serde_json::Value,
    ) -> Result<(), IamError> {
        self.events
            .publish_in(conn, Message::new(subject, payload))
            .map(|_| ())
            .map_err(|err| {
                IamError::Db(crate::base::db::DbError::Aborted(format!(
                    "announcing {subject}: {err}"
                )))
            })
    }
}

/// Every usable key, user keys narrowed to what their users hold now.
fn load_keys(
    conn: &mut diesel::PgConnection,
    registry: &dyn Registry,
) -> diesel::QueryResult<read_model::Keys> {
    let mut keys = read_model::load(conn)?;
    grants::narrow_user_keys(conn, registry, &mut keys)?;
    Ok(keys)
}

/// Slugs: lowercase letters, digits and `-`, starting with a letter or digit, at most 63.
fn check_slug(field: &'static str, slug: &str) -> Result<(), IamError> {
    let ok = (1..=63).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match ok {
        true => Ok(()),
        false => Err(IamError::Invalid {
            field,
            reason: format!(
                "`{slug}` must be 1 to 63 lowercase letters, digits and -, starting with a letter or digit"
            ),
        }),
    }
}

fn check_name(name: &str) -> Result<(), IamError> {
    check_text("name", name, MAX_NAME)
}

/// Longest display name of anything IAM holds, in characters.
const MAX_NAME: usize = 200;

/// Free text: 1 to `max` characters once trimmed, none of them a control character. Every
/// way in (API, portal, CLI) reaches this, so the bound holds whatever the adapter.
fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), IamError> {
    let invalid = |reason: String| Err(IamError::Invalid { field, reason });
    if value.chars().any(char::is_control) {
        return invalid("control characters are not allowed".into());
    }
    match (1..=max).contains(&value.trim().chars().count()) {
        true => Ok(()),
        false => invalid(format!("must be 1 to {max} characters")),
    }
}

/// Random bytes as hex, for key prefixes, secrets and session tokens.
fn random_hex(bytes: usize) -> Result<String, IamError> {
    crate::base::encoding::random_hex(bytes).map_err(|e| IamError::Invalid {
        field: "secret",
        reason: format!("no randomness available: {e}"),
    })
}

fn new_id() -> Uuid {
    Uuid::now_v7()
}

impl PgIam {
    /// Stops the listeners that keep the key read model and the tenancy snapshot fresh, at
    /// shutdown; both keep their last state (this process's own changes still reload them).
    pub fn stop(&self) {
        self.keys.stop();
        self.places.stop();
    }

    /// Runs `work` on the blocking pool with a handle of its own to this store, so actix
    /// workers never wait on diesel.
    async fn on_pool<T, F>(&self, work: F) -> Result<T, IamError>
    where
        T: Send + 'static,
        F: FnOnce(&PgIam, &mut PgConnection) -> Result<T, IamError> + Send + 'static,
    {
        let this = self.clone();
        self.db.run(move |conn| work(&this, conn)).await
    }

    /// [`PgIam::on_pool`] for a privileged change: `work` runs once `caller` holds `scope`
    /// at `target` (see [`PgIam::authorized_on`]), given the audit actor `caller` is.
    async fn authorized<T, F>(
        &self,
        caller: &Caller,
        (scope, target): (&'static str, Target),
        work: F,
    ) -> Result<T, IamError>
    where
        T: Send + 'static,
        F: FnOnce(&PgIam, &mut PgConnection, Actor) -> Result<T, IamError> + Send + 'static,
    {
        let caller = caller.clone();
        self.on_pool(move |this, conn| {
            this.authorized_on(conn, (&caller, scope, &target), |conn, actor| {
                work(this, conn, actor)
            })
        })
        .await
    }

    /// [`PgIam::on_pool`] for a change to what keys hold (a key, a membership, a binding):
    /// this process's key read model follows at once, others' by NOTIFY.
    async fn changing_keys<T, F>(&self, work: F) -> Result<T, IamError>
    where
        T: Send + 'static,
        F: FnOnce(&PgIam, &mut PgConnection) -> Result<T, IamError> + Send + 'static,
    {
        let changed = self.on_pool(work).await?;
        self.reload().await?;
        Ok(changed)
    }

    /// This process sees its own changes at once; others through NOTIFY.
    async fn reload(&self) -> Result<(), IamError> {
        Ok(self.keys.reload().await?)
    }

    /// [`PgIam::authorized`] for a tenancy change: this process places targets by the new
    /// organizations and projects at once (others within the snapshot's bound).
    async fn changing_places<T, F>(
        &self,
        caller: &Caller,
        may: (&'static str, Target),
        work: F,
    ) -> Result<T, IamError>
    where
        T: Send + 'static,
        F: FnOnce(&PgIam, &mut PgConnection, Actor) -> Result<T, IamError> + Send + 'static,
    {
        let changed = self.authorized(caller, may, work).await?;
        self.places.reload().await?;
        Ok(changed)
    }
}
