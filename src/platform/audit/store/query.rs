//! Listing and reading events.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::events;
use super::super::{AuditError, AuditEvent, EventFilter, Page};
use super::rows::EventRow;

pub fn page(conn: &mut PgConnection, f: &EventFilter) -> Result<Page, AuditError> {
    let mut q = events::table
        .select(EventRow::as_select())
        .order(events::seq.desc())
        .into_boxed();
    if let Some(v) = f.organization_id {
        q = q.filter(events::organization_id.eq(v));
    }
    if let Some(v) = f.project_id {
        q = q.filter(events::project_id.eq(v));
    }
    if let Some(v) = &f.actor_id {
        q = q.filter(events::actor_id.eq(v.clone()));
    }
    if let Some(v) = &f.action {
        q = q.filter(events::action.eq(v.clone()));
    }
    if let Some(v) = &f.target_type {
        q = q.filter(events::target_type.eq(v.clone()));
    }
    if let Some(v) = &f.target_id {
        q = q.filter(events::target_id.eq(v.clone()));
    }
    if let Some(v) = f.result {
        q = q.filter(events::result.eq(v.as_str()));
    }
    if let Some(v) = f.from {
        q = q.filter(events::occurred_at.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(events::occurred_at.lt(v));
    }
    if let Some(v) = f.before_seq {
        q = q.filter(events::seq.lt(v));
    }
    let limit = f.limit.clamp(1, 500);
    let mut rows: Vec<EventRow> = q.limit(limit + 1).load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    Ok(Page {
        events: rows.into_iter().map(EventRow::into_event).collect(),
        next_cursor,
    })
}

pub fn by_id(conn: &mut PgConnection, id: Uuid) -> Result<AuditEvent, AuditError> {
    events::table
        .filter(events::id.eq(id))
        .select(EventRow::as_select())
        .first(conn)
        .optional()?
        .map(EventRow::into_event)
        .ok_or_else(|| AuditError::NotFound(id.to_string()))
}

pub fn range(conn: &mut PgConnection, from: i64, to: i64) -> Result<Vec<AuditEvent>, AuditError> {
    Ok(events::table
        .filter(events::seq.between(from, to))
        .order(events::seq)
        .select(EventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(EventRow::into_event)
        .collect())
}
