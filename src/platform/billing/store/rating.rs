//! Rating: the price version each captured event falls under, and its amount. An event no
//! price covers gets no rating (it stays listed as unrated), never a zero.

use diesel::QueryableByName;
use diesel::sql_types::{Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::money;

use super::super::prices::{PriceBook, PriceKey};
use super::super::usage::UsageEvent;
use super::rows::RatingRow;

/// What rating needs of a usage fact: what it is, when it occurred, how much.
#[derive(Debug, Clone, Copy)]
pub struct Fact<'a> {
    /// Product, unit, resource and the currency to price in.
    pub key: PriceKey<'a>,
    /// When it occurred: the price in effect then applies.
    pub occurred_at: OffsetDateTime,
    /// How much.
    pub quantity: Decimal,
}

impl<'a> Fact<'a> {
    /// The fact `event` reports, priced in `currency`.
    pub fn of(event: &'a UsageEvent, currency: &'a str) -> Fact<'a> {
        Fact {
            key: PriceKey {
                product: &event.product,
                unit: &event.unit,
                resource_type: &event.resource_type,
                resource_id: &event.resource_id,
                currency,
            },
            occurred_at: event.occurred_at,
            quantity: event.quantity,
        }
    }
}

/// The rating of one captured fact (its journal filled in when posted), if a price covers it.
pub fn rate(
    book: &PriceBook,
    usage_id: Uuid,
    fact: Fact<'_>,
    now: OffsetDateTime,
) -> Option<RatingRow> {
    let price = book.price_at(fact.key, fact.occurred_at)?;
    let amount = money::rate(fact.quantity, price.unit_price_minor)?;
    Some(RatingRow {
        usage_id,
        price_id: price.id,
        price_version: price.version,
        currency: fact.key.currency.to_owned(),
        unit_price_minor: price.unit_price_minor,
        amount_minor: amount,
        journal_id: None,
        rated_at: now,
    })
}

/// A captured event as rating reads it back (late rating, the poster).
#[derive(Debug, QueryableByName)]
pub struct UsageFact {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub product: String,
    #[diesel(sql_type = Text)]
    pub unit: String,
    #[diesel(sql_type = Text)]
    pub resource_type: String,
    #[diesel(sql_type = Text)]
    pub resource_id: String,
    #[diesel(sql_type = Numeric)]
    pub quantity: Decimal,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: OffsetDateTime,
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub batch_id: Uuid,
}

impl UsageFact {
    /// The fact to rate, priced in `currency`.
    pub fn fact<'a>(&'a self, currency: &'a str) -> Fact<'a> {
        Fact {
            key: PriceKey {
                product: &self.product,
                unit: &self.unit,
                resource_type: &self.resource_type,
                resource_id: &self.resource_id,
                currency,
            },
            occurred_at: self.occurred_at,
            quantity: self.quantity,
        }
    }
}

/// The price book rating `facts` needs: every version of their units.
pub fn book_for<F: std::borrow::Borrow<UsageFact>>(
    conn: &mut diesel::PgConnection,
    facts: &[F],
) -> diesel::QueryResult<PriceBook> {
    let units: Vec<String> = facts
        .iter()
        .map(|f| f.borrow().unit.clone())
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .collect();
    Ok(PriceBook::new(super::prices::of_units(conn, &units)?))
}
