//! `Pricing`: price versions, each added in a transaction with its audit event.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::money::{MAX_UNIT_PRICE_MINOR, PRICE_SCALE, check_currency, check_decimal};
use super::super::schema::prices;
use super::super::usage::owned;
use super::super::{BILLING_ADJUST, BILLING_READ, BillingError, NewPrice, PriceView, Pricing};
use super::rows::PriceRow;
use super::{PRICES_CHANNEL, PgBilling, notify};
use crate::platform::audit::{Actor, Audit, NewEvent};
use crate::platform::iam::{Caller, Target};
use crate::platform::registry::Registry;

/// How far back a new price may start: far enough to rate usage that arrived unrated
/// (usage already rated keeps the price it was rated at).
const MAX_BACKDATE: Duration = Duration::days(400);

#[async_trait::async_trait]
impl Pricing for PgBilling {
    async fn set_price(&self, caller: &Caller, price: NewPrice) -> Result<PriceView, BillingError> {
        self.authorized(caller, BILLING_ADJUST, Target::Platform)
            .await?;
        let now = self.with.clock.now();
        check_price(&price, self.with.registry.as_ref(), now)?;
        let (audit, actor) = (self.with.audit.clone(), caller.actor());
        let view = self
            .db
            .run(move |conn| set_price_on(conn, audit.as_ref(), actor, price, now))
            .await?;
        self.prices.reload().await?;
        Ok(view)
    }

    async fn prices(
        &self,
        caller: &Caller,
        product: Option<String>,
    ) -> Result<Vec<PriceView>, BillingError> {
        self.authorized(caller, BILLING_READ, Target::Platform)
            .await?;
        if product.as_ref().is_some_and(|p| p.chars().count() > 100) {
            return Err(BillingError::Invalid {
                field: "product",
                reason: "must be at most 100 characters".into(),
            });
        }
        self.db
            .run(move |conn| Ok(all(conn, product.as_deref())?))
            .await
    }
}

/// Every price version (of one product), in order of product, unit, resource, version.
pub fn all(conn: &mut PgConnection, product: Option<&str>) -> QueryResult<Vec<PriceView>> {
    let mut query = prices::table
        .select(PriceRow::as_select())
        .order((
            prices::product,
            prices::unit,
            prices::resource_type,
            prices::resource_id,
            prices::currency,
            prices::version,
        ))
        .into_boxed();
    if let Some(product) = product {
        query = query.filter(prices::product.eq(product.to_owned()));
    }
    Ok(query.load(conn)?.into_iter().map(PriceView::from).collect())
}

/// Price versions of these units, for rating a batch.
pub fn of_units(conn: &mut PgConnection, units: &[String]) -> QueryResult<Vec<PriceView>> {
    let rows: Vec<PriceRow> = prices::table
        .filter(prices::unit.eq_any(units))
        .select(PriceRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(PriceView::from).collect())
}

fn check_price(
    price: &NewPrice,
    registry: &dyn Registry,
    now: OffsetDateTime,
) -> Result<(), BillingError> {
    let invalid = |field: &'static str, reason: String| BillingError::Invalid { field, reason };
    if let Some(reason) = owned(registry, "usage_unit", "unit", &price.unit, &price.product) {
        return Err(invalid("unit", reason));
    }
    match (&price.resource_type, &price.resource_id) {
        (None, Some(_)) => {
            return Err(invalid("resource_id", "needs a resource_type".into()));
        }
        (Some(rtype), rid) => {
            if let Some(reason) = owned(
                registry,
                "resource_type",
                "resource_type",
                rtype,
                &price.product,
            ) {
                return Err(invalid("resource_type", reason));
            }
            if rid.as_ref().is_some_and(|r| {
                r.is_empty() || r.chars().count() > 200 || r.chars().any(char::is_control)
            }) {
                return Err(invalid("resource_id", "must be 1 to 200 characters".into()));
            }
        }
        (None, None) => {}
    }
    check_currency(&price.currency).map_err(|r| invalid("currency", r))?;
    check_decimal(price.unit_price_minor, PRICE_SCALE, MAX_UNIT_PRICE_MINOR)
        .map_err(|r| invalid("unit_price_minor", r))?;
    let from = price.effective_from.unwrap_or(now);
    if from < now - MAX_BACKDATE {
        return Err(invalid(
            "effective_from",
            "must be within the last 400 days".into(),
        ));
    }
    if price.effective_to.is_some_and(|to| to <= from) {
        return Err(invalid(
            "effective_to",
            "must be after effective_from".into(),
        ));
    }
    Ok(())
}

fn set_price_on(
    conn: &mut PgConnection,
    audit: &dyn Audit,
    actor: Actor,
    price: NewPrice,
    now: OffsetDateTime,
) -> Result<PriceView, BillingError> {
    conn.transaction(|conn| {
        let resource_type = price.resource_type.clone().unwrap_or_default();
        let resource_id = price.resource_id.clone().unwrap_or_default();
        let latest: Option<i32> = prices::table
            .filter(prices::product.eq(&price.product))
            .filter(prices::unit.eq(&price.unit))
            .filter(prices::resource_type.eq(&resource_type))
            .filter(prices::resource_id.eq(&resource_id))
            .filter(prices::currency.eq(&price.currency))
            .select(diesel::dsl::max(prices::version))
            .first(conn)?;
        let row = PriceRow {
            id: Uuid::now_v7(),
            product: price.product,
            unit: price.unit,
            resource_type,
            resource_id,
            currency: price.currency,
            unit_price_minor: price.unit_price_minor.normalize(),
            effective_from: price.effective_from.unwrap_or(now),
            effective_to: price.effective_to,
            version: latest.unwrap_or(0) + 1,
            created_at: now,
            created_by: actor.id.clone(),
        };
        diesel::insert_into(prices::table)
            .values(&row)
            .execute(conn)?;
        let view = PriceView::from(row);
        let mut event = NewEvent::new(
            actor,
            "platform.billing.price_set",
            "price",
            &view.id.to_string(),
        );
        event.details = serde_json::to_value(&view).unwrap_or_default();
        audit.append_in(conn, event)?;
        notify(conn, PRICES_CHANNEL)?;
        Ok(view)
    })
}
