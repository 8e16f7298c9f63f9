//! `/api/v1/registry`: products, revisions, reviews, family listings, packet review and
//! onboarding.
//!
//! Every read (and a packet review) needs `platform.registry.read` at platform scope, every
//! onboarding `platform.registry.write`; no part of the registry is public. Tenants learn
//! what they may use through IAM and the portal, never by reading other products' packets.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::Registry;
use super::{
    EntryFilter, EntryView, FAMILY_ORDER, Format, OnboardOutcome, PacketSource, ProductDetail,
    ProductSummary, Review, RevisionView,
};
use crate::kit::error::{ApiError, Problem};
use crate::kit::http::paging::{Page, PageQuery};
use crate::platform::iam::Iam;
use crate::platform::iam::Target;
use crate::platform::iam::web::guard;

/// Scopes of the platform's packet guarding registry routes.
const REGISTRY_READ: &str = "platform.registry.read";
const REGISTRY_WRITE: &str = "platform.registry.write";

/// Registers the routes (products before the `{family}` catch-all).
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/api/v1/registry")
            .service(list_products)
            .service(show_product)
            .service(review_product)
            .service(product_revisions)
            .service(review_packet)
            .service(onboard_packet)
            .service(list_family),
    );
}

/// Every registered product. Needs `platform.registry.read` at platform scope.
#[utoipa::path(params(PageQuery), tag = "registry", responses((status = 200, body = Page<ProductSummary>), (status = 403, description = "the caller lacks `platform.registry.read` at platform scope", body = Problem)))]
#[get("/products")]
async fn list_products(
    registry: web::Data<dyn Registry>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    page: PageQuery,
) -> Result<web::Json<Page<ProductSummary>>, ApiError> {
    guard::authorize(&iam, &req, REGISTRY_READ, Target::Platform).await?;
    Ok(web::Json(
        page.page(registry.products().await?, |p| p.slug.clone())?,
    ))
}

/// One product: identity, ownership and entry counts. Needs `platform.registry.read` at
/// platform scope.
#[utoipa::path(tag = "registry", responses((status = 200, body = ProductDetail), (status = 403, description = "the caller lacks `platform.registry.read` at platform scope", body = Problem), (status = 404, body = Problem)))]
#[get("/products/{slug}")]
async fn show_product(
    registry: web::Data<dyn Registry>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<web::Json<ProductDetail>, ApiError> {
    guard::authorize(&iam, &req, REGISTRY_READ, Target::Platform).await?;
    Ok(web::Json(registry.product(&slug).await?))
}

/// The readiness review of the product's current packet revision, as of today. Needs
/// `platform.registry.read` at platform scope.
#[utoipa::path(tag = "registry", responses((status = 200, body = Review), (status = 403, description = "the caller lacks `platform.registry.read` at platform scope", body = Problem), (status = 404, body = Problem)))]
#[get("/products/{slug}/review")]
async fn review_product(
    registry: web::Data<dyn Registry>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<web::Json<Review>, ApiError> {
    guard::authorize(&iam, &req, REGISTRY_READ, Target::Platform).await?;
    Ok(web::Json(registry.review_product(&slug).await?))
}

/// The product's packet revisions, newest first, each with its diff. Needs
/// `platform.registry.read` at platform scope.
#[utoipa::path(params(PageQuery), tag = "registry", responses((status = 200, body = Page<RevisionView>), (status = 403, description = "the caller lacks `platform.registry.read` at platform scope", body = Problem), (status = 404, body = Problem)))]
#[get("/products/{slug}/revisions")]
async fn product_revisions(
    registry: web::Data<dyn Registry>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    slug: web::Path<String>,
    page: PageQuery,
) -> Result<web::Json<Page<RevisionView>>, ApiError> {
    guard::authorize(&iam, &req, REGISTRY_READ, Target::Platform).await?;
    Ok(web::Json(
        page.page(registry.revisions(&slug).await?, |r| {
            format!("{:010}", r.number)
        })?,
    ))
}

/// Filters of a family listing (beside the paging parameters).
#[derive(Debug, Deserialize, IntoParams)]
struct FamilyQuery {
    /// Only entries of this product id.
    product: Option<String>,
    /// Only entries in this state: draft, active, not_applicable or retired.
    state: Option<String>,
}

/// Entries of one family, e.g. `/api/v1/registry/scopes?product=example&state=active`.
/// Needs `platform.registry.read` at platform scope.
#[utoipa::path(
    tag = "registry",
    params(("family" = String, Path, description = "family in the plural, e.g. scopes, usage_units, audit_actions"), FamilyQuery, PageQuery),
    responses((status = 200, body = Page<EntryView>), (status = 403, description = "the caller lacks `platform.registry.read` at platform scope", body = Problem), (status = 404, body = Problem))
)]
#[get("/{family}")]
async fn list_family(
    registry: web::Data<dyn Registry>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    family: web::Path<String>,
    query: web::Query<FamilyQuery>,
    page: PageQuery,
) -> Result<web::Json<Page<EntryView>>, ApiError> {
    guard::authorize(&iam, &req, REGISTRY_READ, Target::Platform).await?;
    let family = singular(&family)?;
    let query = query.into_inner();
    if let Some(state) = &query.state
        && !["draft", "active", "not_applicable", "retired"].contains(&state.as_str())
    {
        return Err(ApiError::Invalid {
            field: "state".into(),
            reason: format!("`{state}` is not one of draft, active, not_applicable, retired"),
        });
    }
    let filter = EntryFilter {
        product: query.product,
        state: query.state,
    };
    Ok(web::Json(
        page.page(registry.entries(family, filter).await?, |e| e.id.clone())?,
    ))
}

/// `scopes` -> `scope`, `retention_classes` -> `retention_class`.
/// The family named by `plural` in a URL, or a 404 listing the families.
pub(super) fn singular(plural: &str) -> Result<&'static str, ApiError> {
    FAMILY_ORDER
        .iter()
        .find(|family| plural_of(family) == plural)
        .copied()
        .ok_or_else(|| {
            let known: Vec<String> = FAMILY_ORDER.iter().map(|f| plural_of(f)).collect();
            ApiError::NotFound(format!(
                "no registry family `{plural}`; families are: {}",
                known.join(", ")
            ))
        })
}

/// The family's name in URLs.
pub fn plural_of(family: &str) -> String {
    match family.ends_with("ss") {
        true => format!("{family}es"),
        false => format!("{family}s"),
    }
}

/// The packet in the body, as TOML (`application/toml`) or JSON (`application/json`).
fn packet_body(req: &HttpRequest, body: web::Bytes) -> Result<PacketSource, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = match essence.as_str() {
        "application/json" => Format::Json,
        "application/toml" | "text/toml" | "text/x-toml" => Format::Toml,
        _ => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "send the packet as application/toml or application/json, not `{content_type}`"
            )));
        }
    };
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::MalformedBody("the packet is not UTF-8 text".into()))?;
    Ok(PacketSource {
        origin: "request body".into(),
        text,
        format,
    })
}

/// Reviews a packet without changing anything. Invalid packets answer 200 with `errors`;
/// unreadable ones 400. Needs `platform.registry.read` at platform scope.
#[utoipa::path(
    tag = "registry",
    request_body(content = String, description = "the packet", content_type = "application/toml"),
    responses((status = 200, body = Review), (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem))
)]
#[post("/packets/review")]
async fn review_packet(
    registry: web::Data<dyn Registry>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<web::Json<Review>, ApiError> {
    guard::authorize(&iam, &req, REGISTRY_READ, Target::Platform).await?;
    let source = packet_body(&req, body)?;
    let mut reviews = registry.review(vec![source]).await?;
    reviews
        .pop()
        .map(web::Json)
        .ok_or_else(|| ApiError::Internal("review returned nothing".into()))
}

/// Validates and activates a packet in one transaction; the same packet again is `unchanged`.
/// Needs `platform.registry.write` at platform scope.
#[utoipa::path(
    tag = "registry",
    request_body(content = String, description = "the packet", content_type = "application/toml"),
    responses(
        (status = 200, body = OnboardOutcome),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "incompatible change", body = Problem),
        (status = 422, description = "invalid or not ready", body = Problem),
    )
)]
#[post("/packets/onboard")]
async fn onboard_packet(
    registry: web::Data<dyn Registry>,
    iam: web::Data<Iam>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<web::Json<OnboardOutcome>, ApiError> {
    let (caller, _) = guard::authorize(&iam, &req, REGISTRY_WRITE, Target::Platform).await?;
    let source = packet_body(&req, body)?;
    Ok(web::Json(registry.onboard(source, caller.actor()).await?))
}
