//! `Catalog`: models and endpoints, each change checked, written with its audit event and
//! its packet event in one transaction, and announced to every process's catalog.

use std::sync::Arc;

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::catalog::{Model, Target};
use super::super::schema::{endpoints, models};
use super::super::{
    Catalog, EndpointView, MODELS_MANAGE, MODELS_READ, ModelKind, ModelView, NewEndpoint, NewModel,
    ROUTING_MANAGE, TfError,
};
use super::announce::{self, MODEL_CHANGED, ROUTING_CHANGED};
use super::{TokenFactory, changed};
use crate::platform::audit::{Actor, Audit, NewEvent};
use crate::platform::events::Events;
use crate::platform::iam::{Caller, Target as Place};

/// Most endpoints one model has.
const MAX_ENDPOINTS: usize = 16;
/// Most fallbacks one model names.
const MAX_FALLBACKS: usize = 8;

#[async_trait::async_trait]
impl Catalog for TokenFactory {
    async fn add_model(&self, caller: &Caller, model: NewModel) -> Result<ModelView, TfError> {
        self.with
            .access
            .authorize(caller, MODELS_MANAGE, Place::Platform)
            .await?;
        check_model(&model)?;
        for fallback in &model.fallbacks {
            match self.book.get().model(fallback) {
                Some(f) if f.kind == model.kind => {}
                _ => {
                    return Err(TfError::invalid(
                        "fallbacks",
                        format!(
                            "`{fallback}` is not a {} model in the catalog",
                            model.kind.as_str()
                        ),
                    ));
                }
            }
        }
        let id = model.id.clone();
        let (change, now) = (self.change(caller), self.with.clock.now());
        self.db
            .run(move |conn| add_model_on(conn, &change, model, now))
            .await?;
        self.view_after_change(&id).await
    }

    async fn models(
        &self,
        caller: &Caller,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<ModelView>, TfError> {
        self.with
            .access
            .authorize(caller, MODELS_READ, Place::Platform)
            .await?;
        let book = self.book.get();
        let mut ids: Vec<&String> = book
            .models
            .keys()
            .filter(|id| after.as_ref().is_none_or(|a| *id > a))
            .collect();
        ids.sort();
        Ok(ids
            .into_iter()
            .take(limit)
            .filter_map(|id| book.models.get(id))
            .map(|m| self.view(m))
            .collect())
    }

    async fn model(&self, caller: &Caller, id: &str) -> Result<ModelView, TfError> {
        self.with
            .access
            .authorize(caller, MODELS_READ, Place::Platform)
            .await?;
        self.book
            .get()
            .model(id)
            .map(|m| self.view(m))
            .ok_or_else(|| not_found(id))
    }

    async fn set_enabled(
        &self,
        caller: &Caller,
        id: &str,
        enabled: bool,
    ) -> Result<ModelView, TfError> {
        self.with
            .access
            .authorize(caller, MODELS_MANAGE, Place::Platform)
            .await?;
        let owned = id.to_owned();
        let (change, now) = (self.change(caller), self.with.clock.now());
        self.db
            .run(move |conn| set_state_on(conn, &change, &owned, enabled, now))
            .await?;
        self.view_after_change(id).await
    }

    async fn add_endpoint(
        &self,
        caller: &Caller,
        model: &str,
        endpoint: NewEndpoint,
    ) -> Result<ModelView, TfError> {
        self.with
            .access
            .authorize(caller, ROUTING_MANAGE, Place::Platform)
            .await?;
        check_endpoint(&endpoint)?;
        let owned = model.to_owned();
        let (change, now) = (self.change(caller), self.with.clock.now());
        self.db
            .run(move |conn| add_endpoint_on(conn, &change, &owned, endpoint, now))
            .await?;
        self.view_after_change(model).await
    }

    async fn remove_endpoint(
        &self,
        caller: &Caller,
        model: &str,
        name: &str,
    ) -> Result<ModelView, TfError> {
        self.with
            .access
            .authorize(caller, ROUTING_MANAGE, Place::Platform)
            .await?;
        let (owned, name) = (model.to_owned(), name.to_owned());
        let change = self.change(caller);
        self.db
            .run(move |conn| remove_endpoint_on(conn, &change, &owned, &name))
            .await?;
        self.view_after_change(model).await
    }
}

impl TokenFactory {
    /// How `caller`'s change is recorded.
    fn change(&self, caller: &Caller) -> Change {
        Change {
            audit: Arc::clone(&self.with.audit),
            events: Arc::clone(&self.with.events),
            actor: caller.actor(),
        }
    }

    /// This process sees its own change at once (others through NOTIFY).
    async fn view_after_change(&self, id: &str) -> Result<ModelView, TfError> {
        self.book.reload().await?;
        self.book
            .get()
            .model(id)
            .map(|m| self.view(m))
            .ok_or_else(|| not_found(id))
    }

    fn view(&self, m: &Model) -> ModelView {
        let health = &self.gateway.upstreams.health;
        ModelView {
            id: m.id.to_string(),
            display_name: m.display_name.clone(),
            kind: m.kind,
            context_length: u32::try_from(m.context_length).unwrap_or(u32::MAX),
            max_output_tokens: u32::try_from(m.max_output_tokens).unwrap_or(u32::MAX),
            fallbacks: m.fallbacks.clone(),
            premium: m.premium,
            state: if m.enabled { "enabled" } else { "disabled" }.into(),
            endpoints: m
                .endpoints
                .iter()
                .map(|e| EndpointView {
                    id: e.id,
                    name: e.name.to_string(),
                    base_url: e.base_url.clone(),
                    upstream_model: e.upstream_model.clone(),
                    credential_env: e.credential_env.clone(),
                    weight: e.weight,
                    timeout_ms: u32::try_from(e.timeout.as_millis()).unwrap_or(u32::MAX),
                    max_in_flight: e.max_in_flight,
                    health: health.label(e.id).into(),
                    in_flight: health.in_flight(e.id),
                })
                .collect(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn not_found(id: &str) -> TfError {
    TfError::NotFound(format!("no model `{}` in the catalog", printable(id)))
}

fn printable(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn text(field: &'static str, value: &str, max: usize) -> Result<(), TfError> {
    if value.chars().any(char::is_control) {
        return Err(TfError::invalid(
            field,
            "control characters are not allowed",
        ));
    }
    match (1..=max).contains(&value.chars().count()) {
        true => Ok(()),
        false => Err(TfError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        )),
    }
}

fn check_model(m: &NewModel) -> Result<(), TfError> {
    let id_ok = (1..=96).contains(&m.id.len())
        && m.id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && m.id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:/".contains(&b));
    if !id_ok {
        return Err(TfError::invalid(
            "id",
            "must be 1 to 96 of A-Z a-z 0-9 . _ : / - starting with a letter or digit",
        ));
    }
    text("display_name", &m.display_name, 200)?;
    if !(1..=10_000_000).contains(&m.context_length) {
        return Err(TfError::invalid("context_length", "must be 1 to 10000000"));
    }
    if m.max_output_tokens > m.context_length {
        return Err(TfError::invalid(
            "max_output_tokens",
            "must not exceed context_length",
        ));
    }
    if m.kind == ModelKind::Chat && m.max_output_tokens == 0 {
        return Err(TfError::invalid(
            "max_output_tokens",
            "a chat model must allow at least 1 output token",
        ));
    }
    if m.fallbacks.len() > MAX_FALLBACKS || m.fallbacks.contains(&m.id) {
        return Err(TfError::invalid(
            "fallbacks",
            format!("at most {MAX_FALLBACKS} other models"),
        ));
    }
    if m.endpoints.len() > MAX_ENDPOINTS {
        return Err(TfError::invalid(
            "endpoints",
            format!("at most {MAX_ENDPOINTS}"),
        ));
    }
    m.endpoints.iter().try_for_each(check_endpoint)
}

fn check_endpoint(e: &NewEndpoint) -> Result<(), TfError> {
    let name_ok = (1..=63).contains(&e.name.len())
        && e.name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && e.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !name_ok {
        return Err(TfError::invalid(
            "endpoints.name",
            "must be 1 to 63 of a-z 0-9 _ - starting with a letter or digit",
        ));
    }
    text("endpoints.base_url", &e.base_url, 500)?;
    let target = Target::of(&e.base_url);
    let has_userinfo = e
        .base_url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .is_some_and(|host| host.contains('@'));
    if target.is_none() || has_userinfo || e.base_url.contains(char::is_whitespace) {
        return Err(TfError::invalid(
            "endpoints.base_url",
            "must be an http(s) URL without credentials (e.g. https://api.example.com/v1), or demo://echo or demo://embed",
        ));
    }
    text("endpoints.upstream_model", &e.upstream_model, 200)?;
    if let Some(env) = &e.credential_env {
        let ok = (1..=128).contains(&env.len())
            && env
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
            && env
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(TfError::invalid(
                "endpoints.credential_env",
                "must name an environment variable: A-Z 0-9 _ (the key itself is never stored)",
            ));
        }
    }
    let within = |field: &'static str, v: u32, lo: u32, hi: u32| match (lo..=hi).contains(&v) {
        true => Ok(()),
        false => Err(TfError::invalid(field, format!("must be {lo} to {hi}"))),
    };
    within("endpoints.weight", e.weight, 1, 1000)?;
    within("endpoints.timeout_ms", e.timeout_ms, 100, 3_600_000)?;
    within("endpoints.max_in_flight", e.max_in_flight, 1, 100_000)
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Who made a catalog change, and where it is recorded in its transaction: an audit event
/// and the packet's announcement.
struct Change {
    audit: Arc<dyn Audit>,
    events: Arc<dyn Events>,
    actor: Actor,
}

impl Change {
    /// Audits `action` on `target_type` `id`.
    fn audit(
        &self,
        conn: &mut PgConnection,
        action: &str,
        (target_type, id): (&str, &str),
        details: serde_json::Value,
    ) -> Result<(), TfError> {
        let mut event = NewEvent::new(self.actor.clone(), action, target_type, id);
        event.details = details;
        self.audit.append_in(conn, event)?;
        Ok(())
    }

    /// Announces a model's change (`what`: added, enabled, disabled).
    fn model(&self, conn: &mut PgConnection, model: &str, what: &str) -> Result<(), TfError> {
        let payload = serde_json::json!({ "model": model, "change": what });
        Ok(announce::publish_in(
            conn,
            self.events.as_ref(),
            MODEL_CHANGED,
            payload,
        )?)
    }

    /// Announces a change of a model's endpoints (`what`: registered, removed).
    fn routing(
        &self,
        conn: &mut PgConnection,
        (model, endpoint): (&str, &str),
        what: &str,
    ) -> Result<(), TfError> {
        let payload = serde_json::json!({ "model": model, "endpoint": endpoint, "change": what });
        Ok(announce::publish_in(
            conn,
            self.events.as_ref(),
            ROUTING_CHANGED,
            payload,
        )?)
    }
}

fn add_model_on(
    conn: &mut PgConnection,
    change: &Change,
    m: NewModel,
    now: OffsetDateTime,
) -> Result<(), TfError> {
    conn.transaction(|conn| {
        let exists: i64 = models::table.filter(models::id.eq(&m.id)).count().get_result(conn)?;
        if exists > 0 {
            return Err(TfError::Conflict(format!("model `{}` is already in the catalog", m.id)));
        }
        diesel::insert_into(models::table)
            .values((
                models::id.eq(&m.id),
                models::display_name.eq(&m.display_name),
                models::kind.eq(m.kind.as_str()),
                models::context_length.eq(int(m.context_length)),
                models::max_output_tokens.eq(int(m.max_output_tokens)),
                models::fallbacks.eq(&m.fallbacks),
                models::premium.eq(m.premium),
                models::state.eq("enabled"),
                models::created_at.eq(now),
                models::updated_at.eq(now),
            ))
            .execute(conn)?;
        for e in &m.endpoints {
            insert_endpoint(conn, &m.id, e, now)?;
        }
        let details = serde_json::json!({
            "kind": m.kind.as_str(), "context_length": m.context_length,
            "max_output_tokens": m.max_output_tokens, "fallbacks": m.fallbacks, "premium": m.premium,
            "endpoints": m.endpoints.iter().map(|e| &e.name).collect::<Vec<_>>(),
        });
        change.audit(conn, "token_factory.model.added", ("model", &m.id), details)?;
        change.model(conn, &m.id, "added")?;
        changed(conn, &format!("added model {}", m.id))?;
        Ok(())
    })
}

fn set_state_on(
    conn: &mut PgConnection,
    change: &Change,
    id: &str,
    enabled: bool,
    now: OffsetDateTime,
) -> Result<(), TfError> {
    conn.transaction(|conn| {
        let state = if enabled { "enabled" } else { "disabled" };
        let updated = diesel::update(models::table.filter(models::id.eq(id)))
            .set((models::state.eq(state), models::updated_at.eq(now)))
            .execute(conn)?;
        if updated == 0 {
            return Err(not_found(id));
        }
        let action = if enabled {
            "token_factory.model.enabled"
        } else {
            "token_factory.model.disabled"
        };
        change.audit(
            conn,
            action,
            ("model", id),
            serde_json::json!({"state": state}),
        )?;
        change.model(conn, id, state)?;
        changed(conn, &format!("model {id} {state}"))?;
        Ok(())
    })
}

fn insert_endpoint(
    conn: &mut PgConnection,
    model: &str,
    e: &NewEndpoint,
    now: OffsetDateTime,
) -> Result<(), TfError> {
    diesel::insert_into(endpoints::table)
        .values((
            endpoints::id.eq(Uuid::now_v7()),
            endpoints::model_id.eq(model),
            endpoints::name.eq(&e.name),
            endpoints::base_url.eq(&e.base_url),
            endpoints::upstream_model.eq(&e.upstream_model),
            endpoints::credential_env.eq(&e.credential_env),
            endpoints::weight.eq(int(e.weight)),
            endpoints::timeout_ms.eq(int(e.timeout_ms)),
            endpoints::max_in_flight.eq(int(e.max_in_flight)),
            endpoints::created_at.eq(now),
        ))
        .execute(conn)
        .map_err(|err| match crate::base::db::DbError::from(err) {
            crate::base::db::DbError::Conflict { .. } => TfError::Conflict(format!(
                "model `{model}` already has an endpoint `{}`",
                e.name
            )),
            other => TfError::Db(other),
        })?;
    Ok(())
}

fn add_endpoint_on(
    conn: &mut PgConnection,
    change: &Change,
    model: &str,
    e: NewEndpoint,
    now: OffsetDateTime,
) -> Result<(), TfError> {
    conn.transaction(|conn| {
        let count: i64 = endpoints::table
            .filter(endpoints::model_id.eq(model))
            .count()
            .get_result(conn)?;
        let exists: i64 = models::table
            .filter(models::id.eq(model))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(not_found(model));
        }
        if count >= MAX_ENDPOINTS as i64 {
            return Err(TfError::Conflict(format!(
                "model `{model}` already has {MAX_ENDPOINTS} endpoints"
            )));
        }
        insert_endpoint(conn, model, &e, now)?;
        let details = serde_json::json!({
            "model": model, "base_url": e.base_url, "upstream_model": e.upstream_model,
            "credential_env": e.credential_env, "weight": e.weight, "timeout_ms": e.timeout_ms,
            "max_in_flight": e.max_in_flight,
        });
        let target = format!("{model}/{}", e.name);
        change.audit(
            conn,
            "token_factory.endpoint.registered",
            ("endpoint", &target),
            details,
        )?;
        change.routing(conn, (model, &e.name), "registered")?;
        changed(conn, &format!("endpoint {target} registered"))?;
        Ok(())
    })
}

fn remove_endpoint_on(
    conn: &mut PgConnection,
    change: &Change,
    model: &str,
    name: &str,
) -> Result<(), TfError> {
    conn.transaction(|conn| {
        let removed = diesel::delete(
            endpoints::table
                .filter(endpoints::model_id.eq(model))
                .filter(endpoints::name.eq(name)),
        )
        .execute(conn)?;
        if removed == 0 {
            return Err(TfError::NotFound(format!(
                "model `{}` has no endpoint `{}`",
                printable(model),
                printable(name)
            )));
        }
        let target = format!("{model}/{name}");
        let details = serde_json::json!({"model": model});
        change.audit(
            conn,
            "token_factory.endpoint.removed",
            ("endpoint", &target),
            details,
        )?;
        change.routing(conn, (model, name), "removed")?;
        changed(conn, &format!("endpoint {target} removed"))?;
        Ok(())
    })
}
