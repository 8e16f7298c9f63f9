//! Price books: which price version applies to a usage fact at an instant. The same
//! selection rates captured usage, previews it and prices a spend-guard estimate.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// A price version to add.
#[derive(Debug, Clone)]
pub struct NewPrice {
    /// Product id.
    pub product: String,
    /// One of the product's active usage units.
    pub unit: String,
    /// One of the product's active resource types; none prices the unit for every resource.
    pub resource_type: Option<String>,
    /// One resource of that type; none prices every resource of the type.
    pub resource_id: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units per unit of usage, at most 12 decimal places.
    pub unit_price_minor: Decimal,
    /// From when it applies (inclusive); none means now. Up to 400 days back, so usage that
    /// arrived unrated can be rated; usage already rated keeps the price it was rated at.
    pub effective_from: Option<OffsetDateTime>,
    /// Until when (exclusive); none means until a later version replaces it.
    pub effective_to: Option<OffsetDateTime>,
}

/// A stored price version.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PriceView {
    /// Price version id (the pricing snapshot rated usage refers to).
    pub id: Uuid,
    /// Product id.
    pub product: String,
    /// Usage unit.
    pub unit: String,
    /// Resource type, empty for any.
    pub resource_type: String,
    /// Resource id, empty for any.
    pub resource_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units per unit.
    #[schema(value_type = String)]
    pub unit_price_minor: Decimal,
    /// Applies from (inclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub effective_from: OffsetDateTime,
    /// Applies until (exclusive).
    #[serde(with = "time::serde::rfc3339::option")]
    pub effective_to: Option<OffsetDateTime>,
    /// Version within its (product, unit, resource, currency).
    pub version: i32,
    /// Who set it.
    pub created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl PriceView {
    fn holds(&self, at: OffsetDateTime) -> bool {
        self.effective_from <= at && self.effective_to.is_none_or(|to| at < to)
    }
}

/// What a price is looked up by.
#[derive(Debug, Clone, Copy)]
pub struct PriceKey<'a> {
    /// Product id.
    pub product: &'a str,
    /// Usage unit.
    pub unit: &'a str,
    /// Resource type.
    pub resource_type: &'a str,
    /// Resource id.
    pub resource_id: &'a str,
    /// ISO 4217 code.
    pub currency: &'a str,
}

/// Price versions by (product, unit, currency).
#[derive(Debug, Default)]
pub struct PriceBook {
    by_unit: HashMap<(String, String, String), Vec<PriceView>>,
}

impl PriceBook {
    /// A book of `prices`.
    pub fn new(prices: Vec<PriceView>) -> PriceBook {
        let mut by_unit: HashMap<_, Vec<PriceView>> = HashMap::new();
        for price in prices {
            let key = (
                price.product.clone(),
                price.unit.clone(),
                price.currency.clone(),
            );
            by_unit.entry(key).or_default().push(price);
        }
        PriceBook { by_unit }
    }

    /// The price of `key` at `at`: the most specific match (this resource, then any resource
    /// of its type, then the unit alone), and among those the highest version in effect.
    pub fn price_at(&self, key: PriceKey<'_>, at: OffsetDateTime) -> Option<&PriceView> {
        let unit = (
            key.product.to_owned(),
            key.unit.to_owned(),
            key.currency.to_owned(),
        );
        let versions = self.by_unit.get(&unit)?;
        let specific = [
            (key.resource_type, key.resource_id),
            (key.resource_type, ""),
            ("", ""),
        ];
        specific.into_iter().find_map(|(rtype, rid)| {
            versions
                .iter()
                .filter(|p| p.resource_type == rtype && p.resource_id == rid && p.holds(at))
                .max_by_key(|p| p.version)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn price(rtype: &str, rid: &str, version: i32, from: OffsetDateTime) -> PriceView {
        PriceView {
            id: Uuid::now_v7(),
            product: "tf".into(),
            unit: "tf.tokens".into(),
            resource_type: rtype.into(),
            resource_id: rid.into(),
            currency: "USD".into(),
            unit_price_minor: Decimal::from(version),
            effective_from: from,
            effective_to: None,
            version,
            created_by: "test".into(),
            created_at: from,
        }
    }

    fn key<'a>(rid: &'a str) -> PriceKey<'a> {
        PriceKey {
            product: "tf",
            unit: "tf.tokens",
            resource_type: "tf.model",
            resource_id: rid,
            currency: "USD",
        }
    }

    #[test]
    fn a_new_version_applies_from_its_first_instant_and_not_before() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let t1 = datetime!(2026-11-15 00:00 UTC);
        let book = PriceBook::new(vec![
            price("tf.model", "", 1, t0),
            price("tf.model", "", 2, t1),
        ]);
        let just_before = t1 - time::Duration::nanoseconds(1);
        assert_eq!(
            book.price_at(key("m"), just_before).map(|p| p.version),
            Some(1)
        );
        assert_eq!(book.price_at(key("m"), t1).map(|p| p.version), Some(2));
        assert!(
            book.price_at(key("m"), t0 - time::Duration::SECOND)
                .is_none()
        );
    }

    #[test]
    fn the_most_specific_price_wins() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let book = PriceBook::new(vec![
            price("", "", 1, t0),
            price("tf.model", "", 2, t0),
            price("tf.model", "big", 3, t0),
        ]);
        assert_eq!(book.price_at(key("big"), t0).map(|p| p.version), Some(3));
        assert_eq!(book.price_at(key("small"), t0).map(|p| p.version), Some(2));
        let mut other = key("x");
        other.resource_type = "tf.other";
        assert_eq!(book.price_at(other, t0).map(|p| p.version), Some(1));
        other.currency = "EUR";
        assert!(book.price_at(other, t0).is_none());
    }
}
