//! Static files, compiled into the binary so the server runs from any directory.
//! Links carry a content hash (`?v=`), so browsers may cache them for a long time.

use std::sync::OnceLock;

use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpRequest, HttpResponse, get, web};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../static/app.css"),
    },
    Asset {
        name: "copy.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/copy.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../../static/favicon.svg"),
    },
];

/// A year: links change whenever content does, so a cached copy is never stale.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

fn hashes() -> &'static [String] {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    HASHES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| crate::base::encoding::sha256_hex(asset.body)[..16].to_owned())
            .collect()
    })
}

fn find(name: &str) -> Option<(&'static Asset, &'static str)> {
    let index = ASSETS.iter().position(|asset| asset.name == name)?;
    Some((&ASSETS[index], hashes()[index].as_str()))
}

/// The versioned URL of a static file, e.g. `/static/app.css?v=1a2b...`.
pub fn href(name: &str) -> String {
    match find(name) {
        Some((_, hash)) => format!("/static/{name}?v={hash}"),
        None => format!("/static/{name}"),
    }
}

/// Serves `/static/{name}` with caching headers; answers 304 to a matching `If-None-Match`.
#[get("/static/{name}")]
async fn serve(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some((asset, hash)) = find(&name) else {
        return HttpResponse::NotFound().finish();
    };
    let etag = EntityTag::new_strong(hash.to_owned());
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_matches('"') == hash));
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(ETag(etag))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL));
    if matches {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.body)
}
