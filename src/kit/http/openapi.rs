//! `/api/openapi.json`: the OpenAPI document, collected from the `#[utoipa::path]`
//! annotations of every JSON route as the app registers them, then completed with what
//! every route may answer whatever its annotation says (see [`complete`]).

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::kit::http::problem::PROBLEM_JSON;

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
    let doc = web::Data::new(complete(serde_json::to_value(doc).unwrap_or_default()));
    web::resource("/api/openapi.json").app_data(doc).route(
        web::get()
            .to(|doc: web::Data<Value>| async move { HttpResponse::Ok().json(doc.get_ref()) }),
    )
}

/// What any operation may answer, beside what its annotation lists: the kit's extractors,
/// guard and error mapping answer these on every route.
const ALWAYS: [(&str, &str); 6] = [
    ("400", "The query or body cannot be parsed"),
    ("401", "No valid API key or session"),
    ("403", "The caller lacks the scope"),
    ("404", "No such resource, or not one the caller may see"),
    (
        "422",
        "A value is out of bounds or holds a control character",
    ),
    ("503", "The database is unavailable"),
];

/// What an operation that takes a body may answer besides.
const WITH_BODY: [(&str, &str); 2] = [
    ("413", "The body is larger than the configured limit"),
    ("415", "The body's content type is not accepted"),
];

/// Makes the document say what the server does: every error is `application/problem+json`
/// (annotations can only say `application/json`), and every operation lists the errors
/// the shared extractors, guard and error mapping may answer.
pub fn complete(mut doc: Value) -> Value {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in operation.values_mut().filter_map(Value::as_object_mut) {
            let has_body = op.contains_key("requestBody");
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            let Some(responses) = responses else { continue };
            for response in responses.values_mut() {
                problems_as_problem_json(response);
            }
            let extra = WITH_BODY.iter().filter(|_| has_body);
            for (status, description) in ALWAYS.iter().chain(extra) {
                responses
                    .entry(*status)
                    .or_insert_with(|| problem_response(description));
            }
        }
    }
    doc
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } }
    })
}

/// A response whose JSON body is a `Problem` is really sent as problem+json.
fn problems_as_problem_json(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let is_problem = content
        .get("application/json")
        .is_some_and(|c| c["schema"]["$ref"] == "#/components/schemas/Problem");
    if is_problem && let Some(json) = content.remove("application/json") {
        content.insert(PROBLEM_JSON.to_owned(), json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_problem_json_and_every_operation_lists_the_shared_ones() {
        let problem = json!({ "$ref": "#/components/schemas/Problem" });
        let doc = json!({ "paths": { "/x": {
            "get": { "responses": { "409": { "content": { "application/json": { "schema": problem } } } } },
            "post": { "requestBody": {}, "responses": {} }
        } } });

        let done = complete(doc);

        let get = &done["paths"]["/x"]["get"]["responses"];
        assert!(get["409"]["content"][PROBLEM_JSON].is_object());
        assert!(get["409"]["content"]["application/json"].is_null());
        assert!(get["404"]["content"][PROBLEM_JSON].is_object());
        assert!(get["415"].is_null(), "no body, no 415");
        assert!(done["paths"]["/x"]["post"]["responses"]["415"].is_object());
    }
}
