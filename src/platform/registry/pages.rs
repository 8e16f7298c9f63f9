//! Portal pages: products, a product's readiness checklist and revision history, its
//! persona pages, and a browser per registry family.

use actix_web::{HttpRequest, HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use super::Registry;
use super::api::plural_of;
use super::review::{CategoryStatus, Review};
use super::{EntryFilter, EntryView, FAMILY_ORDER, ProductDetail, ProductSummary, RevisionView};
use crate::kit::error::ApiError;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::web::session::SignedIn;

/// Registers the pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(products_page)
        .service(product_page)
        .service(persona_page)
        .service(family_page);
}

const AREA: Option<&str> = Some("registry");

struct FamilyLink {
    name: String,
    href: String,
}

fn family_links() -> Vec<FamilyLink> {
    FAMILY_ORDER
        .iter()
        .map(|f| FamilyLink {
            name: f.replace('_', " "),
            href: format!("/registry/{}", plural_of(f)),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "registry/products.html")]
struct ProductsPage {
    layout: Layout,
    products: Vec<ProductSummary>,
    families: Vec<FamilyLink>,
}

#[get("/products")]
async fn products_page(
    _signed: SignedIn,
    registry: web::Data<dyn Registry>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let products = registry.products().await?;
    render(&ProductsPage {
        layout: Layout::page("Products", AREA, &req),
        products,
        families: family_links(),
    })
}

struct PersonaLink {
    persona: String,
    title: String,
    href: String,
}

#[derive(Template)]
#[template(path = "registry/product.html")]
struct ProductPage {
    layout: Layout,
    product: ProductDetail,
    review: Review,
    revisions: Vec<RevisionView>,
    pages: Vec<PersonaLink>,
}

impl ProductPage {
    fn status_class(status: &CategoryStatus) -> &'static str {
        match status {
            CategoryStatus::Complete => "ok",
            CategoryStatus::Missing => "bad",
            CategoryStatus::NotApplicable => "",
        }
    }

    fn status_label(status: &CategoryStatus) -> &'static str {
        match status {
            CategoryStatus::Complete => "complete",
            CategoryStatus::Missing => "missing",
            CategoryStatus::NotApplicable => "not applicable",
        }
    }
}

async fn persona_pages(
    registry: &dyn Registry,
    product: &ProductDetail,
) -> Result<Vec<EntryView>, ApiError> {
    let filter = EntryFilter {
        product: Some(product.summary.id.clone()),
        state: Some("active".into()),
    };
    Ok(registry.entries("portal_page", filter).await?)
}

#[get("/products/{slug}")]
async fn product_page(
    _signed: SignedIn,
    registry: web::Data<dyn Registry>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let product = registry.product(&slug).await?;
    let review = registry.review_product(&slug).await?;
    let revisions = registry.revisions(&slug).await?;
    let pages = persona_pages(registry.as_ref(), &product)
        .await?
        .into_iter()
        .map(|page| PersonaLink {
            persona: text(&page.attributes, "persona"),
            title: text(&page.attributes, "title"),
            href: format!("/products/{}/pages/{}", product.summary.slug, page.id),
        })
        .collect();
    render(&ProductPage {
        layout: Layout::page(&product.summary.name, AREA, &req),
        product,
        review,
        revisions,
        pages,
    })
}

fn text(attributes: &serde_json::Value, key: &str) -> String {
    attributes
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

#[derive(Template)]
#[template(path = "registry/page.html")]
struct PersonaPage {
    layout: Layout,
    product: ProductDetail,
    persona: String,
    html: String,
}

#[get("/products/{slug}/pages/{id}")]
async fn persona_page(
    _signed: SignedIn,
    registry: web::Data<dyn Registry>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    let product = registry.product(&slug).await?;
    let page = persona_pages(registry.as_ref(), &product)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no page `{id}` for product `{slug}`")))?;
    let markdown = match page.attributes.get("body").and_then(|b| b.as_str()) {
        Some(body) => body.to_owned(),
        None => format!(
            "This page's content is kept in `{}` beside the packet.",
            text(&page.attributes, "file")
        ),
    };
    render(&PersonaPage {
        layout: Layout::page(&text(&page.attributes, "title"), AREA, &req),
        persona: text(&page.attributes, "persona"),
        html: super::markdown::to_html(&markdown),
        product,
    })
}

/// Filters of the family browser.
#[derive(Debug, Deserialize)]
struct FamilyQuery {
    product: Option<String>,
    state: Option<String>,
}

#[derive(Template)]
#[template(path = "registry/family.html")]
struct FamilyPage {
    layout: Layout,
    family: String,
    plural: String,
    entries: Vec<EntryView>,
    product: String,
    state: String,
    states: [&'static str; 4],
    families: Vec<FamilyLink>,
}

#[get("/registry/{family}")]
async fn family_page(
    _signed: SignedIn,
    registry: web::Data<dyn Registry>,
    req: HttpRequest,
    family: web::Path<String>,
    query: web::Query<FamilyQuery>,
) -> Result<HttpResponse, ApiError> {
    let plural = family.into_inner();
    let family = super::api::singular(&plural)?;
    let query = query.into_inner();
    let product = query.product.filter(|p| !p.is_empty());
    let state = query.state.filter(|s| !s.is_empty());
    let filter = EntryFilter {
        product: product.clone(),
        state: state.clone(),
    };
    let entries = registry.entries(family, filter).await?;
    render(&FamilyPage {
        layout: Layout::page(&family.replace('_', " "), AREA, &req),
        family: family.replace('_', " "),
        plural,
        entries,
        product: product.unwrap_or_default(),
        state: state.unwrap_or_default(),
        states: ["active", "draft", "not_applicable", "retired"],
        families: family_links(),
    })
}
