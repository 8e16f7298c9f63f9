//! The ledger read back: journal pages, monthly statements and reconciliation.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::super::{JournalView, Ledger, Period, Reconciliation, Statement, Statements};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::web::guard;

/// An organization's journal transactions, newest first. Needs `platform.billing.read` in it.
#[utoipa::path(params(PageQuery, KindFilter), tag = "billing", responses((status = 200, body = Page<JournalView>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/orgs/{org}/journal")]
async fn org_journal(
    iam: web::Data<Iam>,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    org: web::Path<String>,
    page: PageQuery,
    kind: web::Query<KindFilter>,
) -> Result<web::Json<Page<JournalView>>, ApiError> {
    journal_page(&iam, ledger.as_ref(), &req, Some(&org), (&page, &kind)).await
}

/// Only transactions of one kind.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KindFilter {
    /// usage, topup, grant, expiry, payment, refund or correction.
    #[param(pattern = "^(usage|topup|grant|expiry|payment|refund|correction)$")]
    kind: Option<String>,
}

/// Every journal transaction, newest first. Needs `platform.billing.read` at platform scope.
#[utoipa::path(params(PageQuery, KindFilter), tag = "billing", responses((status = 200, body = Page<JournalView>), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[get("/journal")]
async fn journal(
    iam: web::Data<Iam>,
    ledger: web::Data<dyn Ledger>,
    req: HttpRequest,
    page: PageQuery,
    kind: web::Query<KindFilter>,
) -> Result<web::Json<Page<JournalView>>, ApiError> {
    journal_page(&iam, ledger.as_ref(), &req, None, (&page, &kind)).await
}

async fn journal_page(
    iam: &Iam,
    ledger: &dyn Ledger,
    req: &HttpRequest,
    org: Option<&str>,
    (page, kind): (&PageQuery, &KindFilter),
) -> Result<web::Json<Page<JournalView>>, ApiError> {
    let caller = guard::caller(iam, req).await?;
    let before = page.after_as(|s| s.parse::<i64>().ok())?;
    let limit = page.limit()?;
    let kind = kind.kind.as_deref();
    let items = ledger
        .journal(&caller, org, kind, before, limit + 1)
        .await?;
    Ok(web::Json(Page::fetched(items, limit, |j| {
        j.seq.to_string()
    })))
}

/// How a statement is answered.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementFormat {
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// An organization's month (`YYYY-MM`, UTC) from its ledger, as JSON or CSV. Needs
/// `platform.billing.read` in it.
#[utoipa::path(params(StatementFormat), tag = "billing", responses((status = 200, body = Statement, content_type = "application/json"), (status = 200, body = String, content_type = "text/csv"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/orgs/{org}/statements/{period}")]
async fn statement(
    iam: web::Data<Iam>,
    statements: web::Data<dyn Statements>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    format: web::Query<StatementFormat>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    let csv = match format.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::Invalid {
                field: "format".into(),
                reason: "must be json or csv".into(),
            });
        }
    };
    let period = Period::parse(&path.1)?;
    let month = statements.statement(&caller, &path.0, period).await?;
    match csv {
        true => csv_download(&path.0, &month),
        false => Ok(HttpResponse::Ok().json(month)),
    }
}

/// `statement` as a CSV file to save, named after the organization and month.
pub(in crate::platform::billing) fn csv_download(
    org: &str,
    month: &Statement,
) -> Result<HttpResponse, ApiError> {
    let body = month
        .to_csv()
        .map_err(|err| ApiError::Internal(format!("writing the statement as CSV: {err}")))?;
    let name = format!(
        "attachment; filename=\"statement-{org}-{}.csv\"",
        month.period
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", name))
        .body(body))
}

/// Checks every invariant of the ledger; `violations` is empty when it holds. Needs
/// `platform.billing.read` at platform scope.
#[utoipa::path(tag = "billing", responses((status = 200, body = Reconciliation), (status = 403, body = Problem)))]
#[get("/reconciliation")]
async fn reconciliation(
    iam: web::Data<Iam>,
    statements: web::Data<dyn Statements>,
    req: HttpRequest,
) -> Result<web::Json<Reconciliation>, ApiError> {
    let caller = guard::caller(&iam, &req).await?;
    Ok(web::Json(statements.reconcile(&caller).await?))
}
