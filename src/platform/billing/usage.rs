//! Usage events as products send them, and the checks an event passes before it is
//! captured. A failed check rejects that event alone, with its reason, and writes nothing.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::money::{MAX_QUANTITY, QUANTITY_SCALE, check_decimal};
use crate::platform::registry::Registry;

/// Longest event id, resource id, actor id or correlation id, in characters.
const MAX_ID: usize = 200;
/// Largest `attributes` object, in bytes of JSON.
const MAX_ATTRIBUTES_BYTES: usize = 4096;
/// How far ahead of the server's clock an event may say it happened (clock skew).
const MAX_FUTURE: Duration = Duration::minutes(5);
/// How late usage may arrive.
const MAX_AGE: Duration = Duration::days(31);

/// One metered fact a product reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageEvent {
    /// The idempotency key, unique per product (e.g. the request id).
    pub event_id: String,
    /// The product's registry id (its packet's `product.id`).
    pub product: String,
    /// An active usage unit of the product, `<product>.<unit>`.
    pub unit: String,
    /// How much, as a decimal string with at most 6 decimal places (strings, as every
    /// amount here, so no JSON parser rounds it).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "1200")]
    pub quantity: Decimal,
    /// Organization the usage belongs to.
    pub organization_id: Uuid,
    /// Its department.
    pub department_id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// Who caused it.
    pub actor: UsageActor,
    /// An active resource type of the product, `<product>.<type>`.
    pub resource_type: String,
    /// Which resource, e.g. the model id.
    pub resource_id: String,
    /// What measured it (a component of the product).
    pub usage_source: String,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The request it came from.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Anything else the product wants kept with it.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// Who caused usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageActor {
    /// api_key, service_account or user.
    pub kind: UsageActorKind,
    /// Key prefix, service account id or user id.
    pub id: String,
}

/// Kinds of actor usage is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageActorKind {
    /// An API key.
    ApiKey,
    /// A service account.
    ServiceAccount,
    /// A person.
    User,
}

impl UsageActorKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageActorKind::ApiKey => "api_key",
            UsageActorKind::ServiceAccount => "service_account",
            UsageActorKind::User => "user",
        }
    }
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    /// The event's id, as sent.
    pub event_id: String,
    /// accepted, duplicate or rejected.
    pub outcome: Outcome,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// accepted | duplicate | rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Captured now (and rated and posted if a price covers it).
    Accepted,
    /// Captured before under the same product and event id; nothing charged again.
    Duplicate,
    /// Refused; nothing written.
    Rejected,
}

impl IngestOutcome {
    pub(super) fn rejected(event_id: &str, reason: String) -> IngestOutcome {
        IngestOutcome {
            event_id: event_id.to_owned(),
            outcome: Outcome::Rejected,
            reason: Some(reason),
        }
    }

    pub(super) fn of(event_id: &str, outcome: Outcome) -> IngestOutcome {
        IngestOutcome {
            event_id: event_id.to_owned(),
            outcome,
            reason: None,
        }
    }
}

/// Usage a request may produce (worst case) or did produce (actual), for the spend guard.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Product id.
    pub product: String,
    /// Usage unit.
    pub unit: String,
    /// Resource type.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// How much.
    pub quantity: Decimal,
}

/// Where a project sits, as IAM knows it: (organization, department).
pub type ProjectHome = Option<(Uuid, Uuid)>;

/// Why `event` cannot be captured, if it cannot: the first problem found.
pub fn problem(
    event: &UsageEvent,
    registry: &dyn Registry,
    home: ProjectHome,
    now: OffsetDateTime,
) -> Option<String> {
    let checks = [
        text("event_id", &event.event_id, MAX_ID),
        text("resource_id", &event.resource_id, MAX_ID),
        text("actor.id", &event.actor.id, MAX_ID),
        text("usage_source", &event.usage_source, 100),
        event
            .correlation_id
            .as_deref()
            .and_then(|c| text("correlation_id", c, MAX_ID)),
        owned(registry, "usage_unit", "unit", &event.unit, &event.product),
        owned(
            registry,
            "resource_type",
            "resource_type",
            &event.resource_type,
            &event.product,
        ),
        check_decimal(event.quantity, QUANTITY_SCALE, MAX_QUANTITY)
            .err()
            .map(|reason| format!("quantity {reason}")),
        when(event.occurred_at, now),
        attributes(&event.attributes),
        placed(event, home),
    ];
    checks.into_iter().flatten().next()
}

fn text(field: &str, value: &str, max: usize) -> Option<String> {
    let count = value.chars().count();
    if value.chars().any(char::is_control) {
        return Some(format!("{field} holds a control character"));
    }
    match (1..=max).contains(&count) {
        true => None,
        false => Some(format!("{field} must be 1 to {max} characters")),
    }
}

/// The entry must be active in the registry and declared by the event's product.
pub(super) fn owned(
    registry: &dyn Registry,
    family: &str,
    field: &str,
    id: &str,
    product: &str,
) -> Option<String> {
    if !registry.is_active(family, id) {
        return Some(format!(
            "{field} `{id}` is not an active {family} in the registry"
        ));
    }
    let declared_by_product = id
        .strip_prefix(product)
        .is_some_and(|rest| rest.starts_with('.'));
    match declared_by_product {
        true => None,
        false => Some(format!(
            "{field} `{id}` is not declared by product `{product}`"
        )),
    }
}

fn when(occurred_at: OffsetDateTime, now: OffsetDateTime) -> Option<String> {
    if occurred_at > now + MAX_FUTURE {
        return Some("occurred_at is more than 5 minutes in the future".into());
    }
    match occurred_at < now - MAX_AGE {
        true => Some("occurred_at is more than 31 days ago".into()),
        false => None,
    }
}

fn attributes(map: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let size = serde_json::to_vec(map).map_or(usize::MAX, |bytes| bytes.len());
    match size > MAX_ATTRIBUTES_BYTES {
        true => Some(format!(
            "attributes exceed {MAX_ATTRIBUTES_BYTES} bytes of JSON"
        )),
        false => None,
    }
}

/// The project must exist and sit in the named organization and department.
fn placed(event: &UsageEvent, home: ProjectHome) -> Option<String> {
    match home {
        Some((org, dept)) if org == event.organization_id && dept == event.department_id => None,
        Some(_) => Some(format!(
            "project {} is not in organization {} and department {}",
            event.project_id, event.organization_id, event.department_id
        )),
        None => Some(format!("no project {}", event.project_id)),
    }
}
