//! `/api/openapi.json`: the OpenAPI document, collected from the `#[utoipa::path]`
//! annotations of every JSON route as the app registers them.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

/// Document metadata; paths and schemas are added by `utoipa_actix_web` as routes register.
#[derive(OpenApi)]
#[openapi(info(
    title = "aicloud",
    description = "AI Cloud shared platform and Token Factory. Errors are RFC 9457 problem+json."
))]
pub struct ApiDoc;

/// The base document, with the server version filled in.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = crate::VERSION.to_owned();
    doc
}

/// Serves the finished document.
pub fn service(doc: utoipa::openapi::OpenApi) -> actix_web::Resource {
    let doc = web::Data::new(doc);
    web::resource("/api/openapi.json").app_data(doc).route(
        web::get().to(|doc: web::Data<utoipa::openapi::OpenApi>| async move {
            HttpResponse::Ok().json(doc.get_ref())
        }),
    )
}
