//! Rating: the price version each captured event falls under, and its amount. An event no
//! price covers gets no rating (it stays listed as unrated), never a zero.

use time::OffsetDateTime;
use uuid::Uuid;

use super::super::money;
use super::super::prices::{PriceBook, PriceKey, PriceView};
use super::super::usage::UsageEvent;
use super::rows::RatingRow;

/// The price of `event` in `currency`, at the instant it occurred.
pub fn price_of<'a>(
    book: &'a PriceBook,
    event: &UsageEvent,
    currency: &str,
) -> Option<&'a PriceView> {
    let key = PriceKey {
        product: &event.product,
        unit: &event.unit,
        resource_type: &event.resource_type,
        resource_id: &event.resource_id,
        currency,
    };
    book.price_at(key, event.occurred_at)
}

/// The rating of one captured event (its journal filled in when posted), if a price covers it.
pub fn rate(
    book: &PriceBook,
    usage_id: Uuid,
    event: &UsageEvent,
    currency: &str,
    now: OffsetDateTime,
) -> Option<RatingRow> {
    let price = price_of(book, event, currency)?;
    let amount = money::rate(event.quantity, price.unit_price_minor)?;
    Some(RatingRow {
        usage_id,
        price_id: price.id,
        price_version: price.version,
        currency: currency.to_owned(),
        unit_price_minor: price.unit_price_minor,
        amount_minor: amount,
        journal_id: None,
        rated_at: now,
    })
}
