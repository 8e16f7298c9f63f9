//! What a scope may say about a dimension, and the levels of the scope chain.

use serde::{Deserialize, Serialize};

/// The largest finite limit (and requested delta): a quadrillion units, so sums of a few
/// of them and their products with window lengths stay far inside `u128`.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000_000;

/// A scope's value for a dimension. Ordered from narrowest to widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "amount")]
pub enum Value {
    /// The scope may not use the dimension at all.
    NotEntitled,
    /// At most this many units (per window, period, or at once).
    Limit(u64),
    /// No ceiling at this scope.
    Unlimited,
}

impl Value {
    /// The stored kind: `not_entitled`, `limit` or `unlimited`.
    pub fn kind(self) -> &'static str {
        match self {
            Value::NotEntitled => "not_entitled",
            Value::Limit(_) => "limit",
            Value::Unlimited => "unlimited",
        }
    }

    /// The stored amount (limits only).
    pub fn amount(self) -> Option<u64> {
        match self {
            Value::Limit(n) => Some(n),
            _ => None,
        }
    }

    /// From the stored kind and amount; `None` for anything else.
    pub fn from_parts(kind: &str, amount: Option<i64>) -> Option<Value> {
        match (kind, amount) {
            ("not_entitled", None) => Some(Value::NotEntitled),
            ("unlimited", None) => Some(Value::Unlimited),
            ("limit", Some(n)) => u64::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_AMOUNT)
                .map(Value::Limit),
            _ => None,
        }
    }

    /// Parses what people type: a whole number, `unlimited` or `not_entitled`.
    pub fn parse(text: &str) -> Result<Value, String> {
        match text.trim() {
            "unlimited" => Ok(Value::Unlimited),
            "not_entitled" | "none" => Ok(Value::NotEntitled),
            digits => match digits.parse::<u64>() {
                Ok(n) if n <= MAX_AMOUNT => Ok(Value::Limit(n)),
                _ => Err(format!(
                    "must be a whole number from 0 to {MAX_AMOUNT}, `unlimited` or `not_entitled`"
                )),
            },
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::NotEntitled => f.write_str("not entitled"),
            Value::Limit(n) => write!(f, "{n}"),
            Value::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// A level of the scope chain, in evaluation order: each narrows the one before.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The platform-wide value of a dimension.
    Global,
    /// The organization's plan.
    Plan,
    /// One organization.
    Organization,
    /// One department.
    Department,
    /// One project.
    Project,
    /// One user or service account.
    Principal,
    /// One API key.
    ApiKey,
}

impl Level {
    /// Every level, in order.
    pub const ALL: [Level; 7] = [
        Level::Global,
        Level::Plan,
        Level::Organization,
        Level::Department,
        Level::Project,
        Level::Principal,
        Level::ApiKey,
    ];

    /// The stored name, as override scopes in packets list it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Global => "global",
            Level::Plan => "plan",
            Level::Organization => "organization",
            Level::Department => "department",
            Level::Project => "project",
            Level::Principal => "principal",
            Level::ApiKey => "api_key",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// A resource a value may be specific to: one of a product's resource types and its id.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// A `resource_type` registry entry of the dimension's product.
    pub resource_type: String,
    /// The resource's id (a model's, say).
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_order_from_narrowest_to_widest() {
        assert!(Value::NotEntitled < Value::Limit(0));
        assert!(Value::Limit(5) < Value::Limit(6));
        assert!(Value::Limit(MAX_AMOUNT) < Value::Unlimited);
    }

    #[test]
    fn parsing_refuses_what_is_not_a_value() {
        assert_eq!(Value::parse("42"), Ok(Value::Limit(42)));
        assert_eq!(Value::parse("unlimited"), Ok(Value::Unlimited));
        assert!(Value::parse("-1").is_err());
        assert!(Value::parse("1e3").is_err());
        assert!(Value::parse(&(MAX_AMOUNT + 1).to_string()).is_err());
        assert_eq!(Value::from_parts("limit", Some(-3)), None);
        assert_eq!(Value::from_parts("unlimited", Some(3)), None);
    }
}
