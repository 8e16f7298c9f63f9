//! Quota thresholds: each crossing is recorded once per threshold, scope and period (the
//! primary key decides between processes), with its event in the same transaction.

use std::sync::Arc;

use diesel::prelude::*;

use super::super::engine::Crossing;
use super::super::schema::threshold_crossings;
use crate::base::clock::Clock;
use crate::base::db::Db;
use crate::platform::events::{Events, Message};

/// The event announcing a crossing.
pub const THRESHOLD_CROSSED: &str = "platform.policy.quota_threshold_crossed";

/// Writes crossings.
pub struct Writer {
    db: Db,
    events: Arc<dyn Events>,
    clock: Arc<dyn Clock>,
}

impl Writer {
    /// Over `db`.
    pub fn new(db: Db, events: Arc<dyn Events>, clock: Arc<dyn Clock>) -> Writer {
        Writer { db, events, clock }
    }

    /// Records `crossing` and announces it, unless it was already.
    pub async fn write(&self, crossing: Crossing) {
        let (events, now) = (Arc::clone(&self.events), self.clock.now());
        let written = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    let inserted = diesel::insert_into(threshold_crossings::table)
                        .values((
                            threshold_crossings::dimension.eq(&crossing.dimension),
                            threshold_crossings::level.eq(crossing.level.as_str()),
                            threshold_crossings::scope_id.eq(&crossing.scope_id),
                            threshold_crossings::resource
                                .eq(crossing.resource.clone().unwrap_or_default()),
                            threshold_crossings::period.eq(&crossing.period),
                            threshold_crossings::threshold_permille
                                .eq(i32::try_from(crossing.threshold_permille).unwrap_or(1000)),
                            threshold_crossings::organization_id.eq(crossing.organization),
                            threshold_crossings::limit_amount
                                .eq(i64::try_from(crossing.limit).unwrap_or(i64::MAX)),
                            threshold_crossings::used
                                .eq(i64::try_from(crossing.used).unwrap_or(i64::MAX)),
                            threshold_crossings::crossed_at.eq(now),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)?;
                    if inserted == 1 {
                        let payload = serde_json::json!({
                            "organization_id": crossing.organization,
                            "dimension": crossing.dimension,
                            "level": crossing.level,
                            "scope_id": crossing.scope_id,
                            "resource": crossing.resource,
                            "period": crossing.period,
                            "threshold_percent": crossing.threshold_permille as f64 / 10.0,
                            "limit": crossing.limit,
                            "used": crossing.used,
                        });
                        events
                            .publish_in(conn, Message::new(THRESHOLD_CROSSED, payload))
                            .map_err(|err| crate::base::db::DbError::Aborted(err.to_string()))?;
                    }
                    Ok::<_, crate::base::db::DbError>(inserted)
                })
            })
            .await;
        if let Err(err) = written {
            log::warn!("policy: a quota threshold crossing was not recorded: {err}");
        }
    }
}
