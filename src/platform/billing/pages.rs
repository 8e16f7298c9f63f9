//! Portal pages: `/billing` (operators: the ledger, unrated usage, price books; everyone
//! else: the organizations whose billing they may read), `/billing/{org}` (balance and
//! state, grants, usage by day and by model, statements to download, and for operators the
//! top-up, grant and refund forms). Every page authorizes through billing's traits, so a
//! tenant sees only organizations where it holds `platform.billing.read`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::chart;
use super::{
    BILLING_ADJUST, BILLING_READ, Balance, Credit, DailyUsage, JournalView, Ledger, Metering,
    NewGrant, Period, PriceView, Pricing, Refund, RefundOf, Statements, UnratedUsage,
};
use crate::kit::error::ApiError;
use crate::kit::http::input::Form;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::web::session::{self, SignedIn};
use crate::platform::iam::{Iam, Organization};

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(org_page)
        .service(usage_chart)
        .service(statement_csv)
        .service(top_up)
        .service(grant)
        .service(refund)
        .service(rate_unrated);
}

/// Days of usage an organization's page charts.
const CHART_DAYS: u16 = 30;

fn layout(req: &HttpRequest, title: &str) -> Layout {
    Layout::page(title, Some("billing"), req)
}

#[derive(Template)]
#[template(path = "billing/home.html")]
struct HomePage {
    layout: Layout,
    organizations: Vec<Organization>,
    operator: Option<Operator>,
    kinds: &'static [&'static str],
}

/// What operators (platform `platform.billing.read`) see on `/billing`.
struct Operator {
    journal: Vec<JournalView>,
    org_filter: String,
    kind_filter: String,
    older: Option<i64>,
    unrated: Vec<UnratedUsage>,
    prices: Vec<PriceView>,
}

#[derive(Debug, Deserialize)]
struct JournalFilter {
    org: Option<String>,
    kind: Option<String>,
    before: Option<i64>,
}

#[get("/billing")]
async fn home(
    signed: SignedIn,
    iam: web::Data<Iam>,
    ledger: web::Data<dyn Ledger>,
    metering: web::Data<dyn Metering>,
    pricing: web::Data<dyn Pricing>,
    req: HttpRequest,
    filter: web::Query<JournalFilter>,
) -> Result<HttpResponse, ApiError> {
    let caller = signed.caller();
    let organizations = iam.access.visible_organizations(&caller).await?;
    let operator = match signed.require(BILLING_READ) {
        Err(_) => None,
        Ok(()) => {
            let org = filter.org.as_deref().filter(|o| !o.is_empty());
            let kind = filter.kind.as_deref().filter(|k| !k.is_empty());
            let journal = ledger
                .journal(&caller, org, kind, filter.before, 51)
                .await?;
            let older = (journal.len() > 50).then(|| journal[49].seq);
            Some(Operator {
                journal: journal.into_iter().take(50).collect(),
                org_filter: org.unwrap_or_default().to_owned(),
                kind_filter: kind.unwrap_or_default().to_owned(),
                older,
                unrated: metering.unrated(&caller, None, 50).await?,
                prices: pricing.prices(&caller, None).await?,
            })
        }
    };
    render(&HomePage {
        layout: layout(&req, "Billing"),
        organizations,
        operator,
        kinds: &super::JOURNAL_KINDS,
    })
}

#[derive(Template)]
#[template(path = "billing/org.html")]
struct OrgPage {
    layout: Layout,
    slug: String,
    balance: Balance,
    models: Vec<(String, Decimal)>,
    periods: Vec<String>,
    can_adjust: bool,
}

#[get("/billing/{org}")]
async fn org_page(
    signed: SignedIn,
    ledger: web::Data<dyn Ledger>,
    statements: web::Data<dyn Statements>,
    req: HttpRequest,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = signed.caller();
    let balance = ledger.balance(&caller, &org).await?;
    let usage = statements.daily_usage(&caller, &org, CHART_DAYS).await?;
    let this_month = Period::of(time::OffsetDateTime::now_utc());
    let periods = std::iter::successors(Some(this_month), |p| Some(p.previous()))
        .take(3)
        .map(|p| p.to_string())
        .collect();
    render(&OrgPage {
        layout: layout(&req, &format!("Billing · {org}")),
        slug: org.into_inner(),
        balance,
        models: by_model(&usage),
        periods,
        can_adjust: signed.require(BILLING_ADJUST).is_ok(),
    })
}

/// An instant as pages show it: UTC to the second.
fn shown(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_default()
}

impl HomePage {
    fn at(&self, t: &time::OffsetDateTime) -> String {
        shown(t)
    }
}

impl OrgPage {
    fn at(&self, t: &time::OffsetDateTime) -> String {
        shown(t)
    }
}

/// Total charged per resource over the charted days, largest first.
fn by_model(usage: &[DailyUsage]) -> Vec<(String, Decimal)> {
    let mut totals: Vec<(String, Decimal)> = Vec::new();
    for u in usage {
        match totals.iter_mut().find(|(r, _)| *r == u.resource_id) {
            Some((_, total)) => *total += u.amount_minor,
            None => totals.push((u.resource_id.clone(), u.amount_minor)),
        }
    }
    totals.sort_by_key(|(_, total)| std::cmp::Reverse(*total));
    totals
}

/// The usage chart as an SVG image (an image, so the page's CSP needs no inline styles).
#[get("/billing/{org}/usage.svg")]
async fn usage_chart(
    signed: SignedIn,
    statements: web::Data<dyn Statements>,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let usage = statements
        .daily_usage(&signed.caller(), &org, CHART_DAYS)
        .await?;
    let today = time::OffsetDateTime::now_utc().date();
    let svg = chart::daily_usage(&usage, today, CHART_DAYS)
        .map_err(|err| ApiError::Internal(format!("drawing the usage chart: {err}")))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

#[get("/billing/{org}/statements/{period}.csv")]
async fn statement_csv(
    signed: SignedIn,
    statements: web::Data<dyn Statements>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let period = Period::parse(&path.1)?;
    let month = statements
        .statement(&signed.caller(), &path.0, period)
        .await?;
    super::api::csv_download(&path.0, &month)
}

/// A money form: the session's token, an amount and why.
#[derive(Debug, Deserialize)]
struct MoneyForm {
    csrf: String,
    amount_minor: String,
    reason: String,
    priority: Option<String>,
    expires_at: Option<String>,
    usage_id: Option<String>,
}

impl MoneyForm {
    fn whole(&self) -> Result<i64, ApiError> {
        self.amount_minor
            .trim()
            .parse()
            .map_err(|_| ApiError::Invalid {
                field: "amount_minor".into(),
                reason: "must be a whole number of minor units".into(),
            })
    }
}

fn back_to(org: &str) -> HttpResponse {
    session::redirect(&format!("/billing/{org}"))
}

#[post("/billing/{org}/topups")]
async fn top_up(
    _signed: SignedIn,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    org: web::Path<String>,
    form: Form<MoneyForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    let credit = Credit {
        amount_minor: form.whole()?,
        reason: form.reason.clone(),
    };
    ledger.top_up(&caller, &org, credit).await?;
    Ok(back_to(&org))
}

#[post("/billing/{org}/grants")]
async fn grant(
    _signed: SignedIn,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    org: web::Path<String>,
    form: Form<MoneyForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    let invalid = |field: &str, reason: &str| ApiError::Invalid {
        field: field.into(),
        reason: reason.into(),
    };
    let priority = match form.priority.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(p) => p
            .parse()
            .map_err(|_| invalid("priority", "must be 0 to 1000"))?,
    };
    let expires_at = match form.expires_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(day) => {
            Some(end_of(day).ok_or_else(|| invalid("expires_at", "must be a date, YYYY-MM-DD"))?)
        }
    };
    let grant = NewGrant {
        credit: Credit {
            amount_minor: form.whole()?,
            reason: form.reason.clone(),
        },
        priority,
        expires_at,
    };
    ledger.grant(&caller, &org, grant).await?;
    Ok(back_to(&org))
}

/// The first instant after `day` (UTC): a lot "expiring on" a day counts through it.
fn end_of(day: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, &format).ok()?;
    Some(date.next_day()?.midnight().assume_utc())
}

#[post("/billing/{org}/refunds")]
async fn refund(
    _signed: SignedIn,
    adjustments: web::Data<dyn super::Adjustments>,
    req: HttpRequest,
    org: web::Path<String>,
    form: Form<MoneyForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    let usage = form
        .usage_id
        .as_deref()
        .unwrap_or("")
        .trim()
        .parse()
        .map_err(|_| ApiError::Invalid {
            field: "usage_id".into(),
            reason: "must be a usage id (a UUID from the ledger)".into(),
        })?;
    let amount = match form.amount_minor.trim() {
        "" => None,
        text => Some(text.parse::<Decimal>().map_err(|_| ApiError::Invalid {
            field: "amount_minor".into(),
            reason: "must be a decimal number of minor units".into(),
        })?),
    };
    let request = Refund {
        of: RefundOf::UsageEvent(usage),
        amount_minor: amount,
        reason: form.reason.clone(),
    };
    adjustments.refund(&caller, &org, request).await?;
    Ok(back_to(&org))
}

#[post("/billing/unrated/rate")]
async fn rate_unrated(
    _signed: SignedIn,
    metering: web::Data<dyn Metering>,
    req: HttpRequest,
    form: Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    metering.rate_unrated(&caller).await?;
    Ok(session::redirect("/billing"))
}
