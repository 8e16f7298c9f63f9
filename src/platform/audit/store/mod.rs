//! `PgAudit`: audit custody over PostgreSQL schema `audit`.

mod append;
mod digests;
mod query;
mod rows;
mod verify;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::pg::PgConnection;
use ed25519_dalek::SigningKey;
use uuid::Uuid;

use super::{
    Audit, AuditError, AuditEvent, DigestRecord, EventFilter, Export, NewEvent, Page, PublicKey,
    VerifyReport, signing,
};
use crate::base::clock::Clock;
use crate::base::config::AuditSettings;
use crate::base::db::Db;
use crate::platform::registry::Registry;

/// Audit custody backed by PostgreSQL. Cloning shares everything (pool, key, last report).
#[derive(Clone)]
pub struct PgAudit {
    db: Db,
    registry: Arc<dyn Registry>,
    clock: Arc<dyn Clock>,
    key: Option<SigningKey>,
    max_details_bytes: usize,
    last_verification: Arc<Mutex<Option<VerifyReport>>>,
}

impl PgAudit {
    /// Custody over `db`, checking actions against `registry`.
    pub fn new(
        db: Db,
        registry: Arc<dyn Registry>,
        clock: Arc<dyn Clock>,
        settings: &AuditSettings,
    ) -> Result<PgAudit, String> {
        let key = match settings.signing_key.is_empty() {
            true => None,
            false => Some(signing::parse(&settings.signing_key)?),
        };
        Ok(PgAudit {
            db,
            registry,
            clock,
            key,
            max_details_bytes: settings.max_details_bytes,
            last_verification: Arc::new(Mutex::new(None)),
        })
    }

    fn remember(&self, report: &VerifyReport) {
        if let Ok(mut last) = self.last_verification.lock() {
            *last = Some(report.clone());
        }
    }
}

/// Signs a digest every `interval` while `audit` lives; logs, never panics.
pub fn sign_periodically(audit: Arc<dyn Audit>, interval: Duration) {
    if interval.is_zero() || audit.public_key().is_none() {
        return;
    }
    let weak = Arc::downgrade(&audit);
    drop(audit);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(audit) = weak.upgrade() else { return };
            match audit.sign_digest().await {
                Ok(Some(d)) => log::info!(
                    "audit digest {} signed over seq {}..={}",
                    d.number,
                    d.seq_from,
                    d.seq_to
                ),
                Ok(None) => {}
                Err(err) => log::warn!("audit digest not signed: {err}"),
            }
        }
    });
}

#[async_trait::async_trait]
impl Audit for PgAudit {
    fn append_in(
        &self,
        conn: &mut PgConnection,
        event: NewEvent,
    ) -> Result<AuditEvent, AuditError> {
        let mut appended = self.append_on(conn, vec![event])?;
        appended
            .pop()
            .ok_or_else(|| AuditError::NotFound("appended".into()))
    }

    fn append_batch_in(
        &self,
        conn: &mut PgConnection,
        events: Vec<NewEvent>,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        self.append_on(conn, events)
    }

    async fn append(&self, event: NewEvent) -> Result<AuditEvent, AuditError> {
        let mut events = self.append_batch(vec![event]).await?;
        events
            .pop()
            .ok_or_else(|| AuditError::NotFound("appended".into()))
    }

    async fn append_batch(&self, events: Vec<NewEvent>) -> Result<Vec<AuditEvent>, AuditError> {
        let this = self.clone();
        self.db.run(move |conn| this.append_on(conn, events)).await
    }

    async fn query(&self, filter: EventFilter) -> Result<Page, AuditError> {
        self.db.run(move |conn| query::page(conn, &filter)).await
    }

    async fn event(&self, id: Uuid) -> Result<AuditEvent, AuditError> {
        self.db.run(move |conn| query::by_id(conn, id)).await
    }

    async fn verify(&self, from_seq: Option<i64>) -> Result<VerifyReport, AuditError> {
        let this = self.clone();
        let report = self
            .db
            .run(move |conn| this.verify_on(conn, from_seq.unwrap_or(1)))
            .await?;
        if from_seq.is_none_or(|s| s <= 1) {
            self.remember(&report);
        }
        Ok(report)
    }

    fn last_verification(&self) -> Option<VerifyReport> {
        self.last_verification
            .lock()
            .ok()
            .and_then(|last| last.clone())
    }

    async fn sign_digest(&self) -> Result<Option<DigestRecord>, AuditError> {
        let this = self.clone();
        self.db.run(move |conn| this.sign_on(conn)).await
    }

    async fn digests(&self) -> Result<Vec<DigestRecord>, AuditError> {
        self.db
            .run(|conn| PgAudit::digests_on(conn, 1, i64::MAX))
            .await
    }

    fn public_key(&self) -> Option<PublicKey> {
        self.key.as_ref().map(signing::public_key)
    }

    async fn export(&self, from: i64, to: i64) -> Result<Export, AuditError> {
        match self.sign_digest().await {
            Ok(_) | Err(AuditError::NoSigningKey) => {}
            Err(err) => return Err(err),
        }
        self.db
            .run(move |conn| {
                let events = query::range(conn, from, to)?;
                let digests = PgAudit::digests_on(conn, from, to)?;
                Ok(Export { events, digests })
            })
            .await
    }
}
