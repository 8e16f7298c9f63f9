//! Money: price books, balances, top-ups, grants, credit lines, refunds, reversals and the
//! card processor's webhook.

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use rust_decimal::Decimal;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::super::{
    Adjustments, Balance, Credit, JournalView, Ledger, NewGrant, NewPrice, PaymentReceipt,
    Payments, Period, PriceView, Pricing, Refund, RefundOf, StripeEvent,
};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::input::Json;
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;

/// Filter for price versions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PriceFilter {
    /// Only this product's prices.
    #[param(max_length = 100)]
    product: Option<String>,
}

/// Every price version. Needs `platform.billing.read` at platform scope.
#[utoipa::path(params(PageQuery, PriceFilter), tag = "billing", responses((status = 200, body = Page<PriceView>), (status = 403, body = Problem)))]
#[get("/prices")]
async fn list_prices(
    iam: web::Data<Iam>,
    pricing: web::Data<dyn Pricing>,
    req: HttpRequest,
    page: PageQuery,
    filter: web::Query<PriceFilter>,
) -> Result<web::Json<Page<PriceView>>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let prices = pricing.prices(&caller, filter.into_inner().product).await?;
    Ok(web::Json(page.page(prices, |p| p.id.to_string())?))
}

/// A new price version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    /// Product id.
    #[schema(min_length = 1, max_length = 100)]
    product: String,
    /// One of its active usage units.
    #[schema(min_length = 1, max_length = 200)]
    unit: String,
    /// One of its active resource types (none: every resource).
    #[schema(max_length = 200)]
    resource_type: Option<String>,
    /// One resource (none: every resource of the type).
    #[schema(max_length = 200)]
    resource_id: Option<String>,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
    /// Minor units per unit, a decimal string with at most 12 decimal places.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "0.000015")]
    unit_price_minor: Decimal,
    /// From (RFC 3339, at most 400 days back; default now).
    #[serde(default, with = "time::serde::rfc3339::option")]
    effective_from: Option<OffsetDateTime>,
    /// Until (RFC 3339, exclusive).
    #[serde(default, with = "time::serde::rfc3339::option")]
    effective_to: Option<OffsetDateTime>,
}

/// Adds a price version (prices are never edited). Needs `platform.billing.adjust`.
#[utoipa::path(tag = "billing", request_body = PriceBody, responses((status = 201, body = PriceView), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/prices")]
async fn set_price(
    iam: web::Data<Iam>,
    pricing: web::Data<dyn Pricing>,
    req: HttpRequest,
    body: Json<PriceBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let b = body.into_inner();
    let price = NewPrice {
        product: b.product,
        unit: b.unit,
        resource_type: b.resource_type,
        resource_id: b.resource_id,
        currency: b.currency,
        unit_price_minor: b.unit_price_minor,
        effective_from: b.effective_from,
        effective_to: b.effective_to,
    };
    Ok(HttpResponse::Created().json(pricing.set_price(&caller, price).await?))
}

/// An organization's funds, derived from its postings. Needs `platform.billing.read` in it.
#[utoipa::path(tag = "billing", responses((status = 200, body = Balance), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/orgs/{org}/balance")]
async fn balance(
    iam: web::Data<Iam>,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<web::Json<Balance>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(ledger.balance(&caller, &org).await?))
}

/// An amount of whole minor units and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    /// Minor units (cents), 1 to 10^12 (0 allowed for a credit line).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    amount_minor: i64,
    /// Why (ledger and audit).
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

impl CreditBody {
    fn credit(self) -> Credit {
        Credit {
            amount_minor: self.amount_minor,
            reason: self.reason,
        }
    }
}

/// Credits the prepaid balance (money received outside a processor). Needs
/// `platform.billing.adjust`; audited.
#[utoipa::path(tag = "billing", request_body = CreditBody, responses((status = 201, body = JournalView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/orgs/{org}/topups")]
async fn top_up(
    iam: web::Data<Iam>,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    org: web::Path<String>,
    body: Json<CreditBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let entry = ledger
        .top_up(&caller, &org, body.into_inner().credit())
        .await?;
    Ok(HttpResponse::Created().json(entry))
}

/// A promotional grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// Minor units, 1 to 10^12.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    amount_minor: i64,
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
    /// Drawn before lots of lower priority (0 to 1000, default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    priority: i32,
    /// When what is left stops counting (RFC 3339, in the future).
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

/// Adds a promotional lot. Needs `platform.billing.adjust`; audited.
#[utoipa::path(tag = "billing", request_body = GrantBody, responses((status = 201, body = JournalView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/orgs/{org}/grants")]
async fn grant(
    iam: web::Data<Iam>,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    org: web::Path<String>,
    body: Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let b = body.into_inner();
    let grant = NewGrant {
        credit: Credit {
            amount_minor: b.amount_minor,
            reason: b.reason,
        },
        priority: b.priority,
        expires_at: b.expires_at,
    };
    Ok(HttpResponse::Created().json(ledger.grant(&caller, &org, grant).await?))
}

/// Sets how far the prepaid balance may go below zero. Needs `platform.billing.adjust`;
/// audited.
#[utoipa::path(tag = "billing", request_body = CreditBody, responses((status = 200, body = Balance), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/orgs/{org}/credit-line")]
async fn credit_line(
    iam: web::Data<Iam>,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    org: web::Path<String>,
    body: Json<CreditBody>,
) -> Result<web::Json<Balance>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let credit = body.into_inner().credit();
    Ok(web::Json(
        ledger.set_credit_line(&caller, &org, credit).await?,
    ))
}

/// A refund: of exactly one of a usage event, a payment (or top-up) or a month.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Billing's id of a usage event.
    usage_id: Option<Uuid>,
    /// The journal transaction of a payment or top-up.
    payment_id: Option<Uuid>,
    /// A month of usage, `YYYY-MM` (UTC).
    #[schema(pattern = "^[0-9]{4}-[0-9]{2}$")]
    period: Option<String>,
    /// Minor units, a decimal string (at most 9 decimal places); absent refunds all that is left.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    amount_minor: Option<Decimal>,
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

impl RefundBody {
    fn refund(self) -> Result<Refund, ApiError> {
        let of = match (self.usage_id, self.payment_id, self.period) {
            (Some(usage), None, None) => RefundOf::UsageEvent(usage),
            (None, Some(payment), None) => RefundOf::Payment(payment),
            (None, None, Some(period)) => RefundOf::Period(Period::parse(&period)?),
            _ => {
                return Err(ApiError::Invalid {
                    field: "body".into(),
                    reason: "name exactly one of usage_id, payment_id and period".into(),
                });
            }
        };
        Ok(Refund {
            of,
            amount_minor: self.amount_minor,
            reason: self.reason,
        })
    }
}

/// Refunds part or all of a charge; never more than was charged. Needs
/// `platform.billing.adjust`; audited.
#[utoipa::path(tag = "billing", request_body = RefundBody, responses((status = 201, body = JournalView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/orgs/{org}/refunds")]
async fn refund(
    iam: web::Data<Iam>,
    adjustments: web::Data<dyn Adjustments>,
    req: HttpRequest,
    org: web::Path<String>,
    body: Json<RefundBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let refund = body.into_inner().refund()?;
    Ok(HttpResponse::Created().json(adjustments.refund(&caller, &org, refund).await?))
}

/// Why a transaction is reversed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Reverses a top-up or an untouched grant posted in error (once). Needs
/// `platform.billing.adjust`; audited.
#[utoipa::path(tag = "billing", request_body = ReversalBody, responses((status = 201, body = JournalView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/journal/{id}/reverse")]
async fn reverse(
    iam: web::Data<Iam>,
    adjustments: web::Data<dyn Adjustments>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: Json<ReversalBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let entry = adjustments.reverse(&caller, *id, &body.reason).await?;
    Ok(HttpResponse::Created().json(entry))
}

/// Stripe's webhook: credits a completed Checkout payment to the organization its
/// `metadata.organization_id` names, once per event id (a redelivery answers what the
/// first recorded and writes nothing); other events are recorded as ignored. No API key:
/// Stripe cannot send one. The `Stripe-Signature` header, an HMAC-SHA256 of the exact body
/// with the endpoint's signing secret, is what admits a delivery; one that does not verify,
/// or was signed outside the tolerance window, is 400 and writes nothing. 404 while no
/// signing secret is configured.
#[utoipa::path(
    tag = "billing",
    params(("Stripe-Signature" = String, Header, description = "t=UNIX_SECONDS,v1=HEX[,v1=HEX...]: HMAC-SHA256 of `{t}.{body}` with the signing secret")),
    request_body(content = StripeEvent, content_type = "application/json", description = "The event exactly as Stripe sent it: the signature is over these bytes"),
    responses(
        (status = 200, body = PaymentReceipt, description = "Recorded (credited, ignored or unmatched), or recorded before"),
        (status = 400, body = Problem, description = "The signature is missing, malformed, does not match the body, or is outside the tolerance window"),
        (status = 404, body = Problem, description = "No Stripe webhook is configured on this server"),
        (status = 422, body = Problem, description = "A verified event whose id or type is out of bounds, or that is not a Stripe event"),
    )
)]
#[post("/webhooks/stripe")]
async fn stripe_webhook(
    payments: web::Data<dyn Payments>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<web::Json<PaymentReceipt>, ApiError> {
    // The raw bytes, never a parsed body: the signature is over exactly what was sent.
    let signature = req.headers().get("stripe-signature").map(|v| v.as_bytes());
    Ok(web::Json(payments.stripe_event(signature, &body).await?))
}
