//! Registry and onboarding packets, through the HTTP API and the CLI.

use crate::helpers::{TestApp, edited, packet};

const TOML: &str = "application/toml";

pub async fn onboard(app: &TestApp, text: &str) -> reqwest::Response {
    app.post("/api/v1/registry/packets/onboard", TOML, text.to_owned())
        .await
}

pub async fn onboard_ok(app: &TestApp, text: &str) -> serde_json::Value {
    let res = onboard(app, text).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{body:#}");
    body
}

pub async fn review(app: &TestApp, text: &str) -> serde_json::Value {
    let res = app
        .post("/api/v1/registry/packets/review", TOML, text.to_owned())
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// Platform first: the products refer to its retention classes and scopes.
pub async fn onboard_platform(app: &TestApp) {
    onboard_ok(app, &packet("platform")).await;
}

fn category<'a>(review: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    review["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no category {name}"))
}

/// Everything the registry holds, to compare before and after a refused change.
async fn registry_state(app: &TestApp) -> Vec<serde_json::Value> {
    let mut state = vec![app.get_items("/api/v1/registry/products").await];
    for family in [
        "scopes",
        "roles",
        "usage_units",
        "audit_actions",
        "retention_classes",
        "portal_pages",
    ] {
        state.push(app.get_json(&format!("/api/v1/registry/{family}")).await);
    }
    state
}

#[tokio::test]
async fn every_shipped_packet_passes_review_and_onboards_once() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;

    for name in ["token-factory", "vector-store"] {
        let text = packet(name);
        let reviewed = review(&app, &text).await;
        assert_eq!(reviewed["ready"], true, "{name}: {reviewed:#}");

        let first = onboard_ok(&app, &text).await;
        let again = onboard_ok(&app, &text).await;

        assert_eq!(first["unchanged"], false);
        assert_eq!(first["revision"], 1);
        assert!(!first["diff"]["added"].as_array().expect("added").is_empty());
        assert_eq!(again["unchanged"], true, "{name}");
        assert_eq!(again["revision"], 1);
        let slug = first["slug"].as_str().expect("slug");
        let revisions = app
            .get_items(&format!("/api/v1/registry/products/{slug}/revisions"))
            .await;
        assert_eq!(revisions.as_array().expect("revisions").len(), 1);
    }
    let products = app.get_items("/api/v1/registry/products").await;
    assert_eq!(products.as_array().expect("products").len(), 3);
}

#[tokio::test]
async fn onboarded_entries_are_listed_per_family_and_filterable() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    onboard_ok(&app, &packet("token-factory")).await;

    let units = app
        .get_items("/api/v1/registry/usage_units?product=token_factory&state=active")
        .await;

    let ids: Vec<&str> = units
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert!(ids.contains(&"token_factory.input_tokens"), "{ids:?}");
    assert!(ids.contains(&"token_factory.output_tokens"), "{ids:?}");
    let unknown = app.get("/api/v1/registry/spells").await;
    assert_eq!(unknown.status(), 404);
    let bad_state = app.get("/api/v1/registry/scopes?state=alive").await;
    assert_eq!(bad_state.status(), 422);
}

#[tokio::test]
async fn a_packet_without_a_category_fails_review_naming_it() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        t.remove("billing");
    });

    let reviewed = review(&app, &text).await;

    assert_eq!(reviewed["ready"], false);
    let billing = category(&reviewed, "Billing");
    assert_eq!(billing["status"], "missing");
    assert_eq!(billing["missing"][0], "[billing] (the whole section)");
    let res = onboard(&app, &text).await;
    assert_eq!(res.status(), 422);
}

#[tokio::test]
async fn a_passed_review_date_is_flagged_and_fails_the_exit_criteria() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("vector-store"), |t| {
        let secrets = t
            .get_mut("secrets")
            .and_then(|s| s.as_table_mut())
            .expect("[secrets]");
        secrets.clear();
        let mut na = toml::Table::new();
        na.insert("owner".into(), "platform security".into());
        na.insert("reason".into(), "no credentials yet".into());
        na.insert("review_date".into(), "2020-01-31".into());
        secrets.insert("not_applicable".into(), toml::Value::Table(na));
    });

    let reviewed = review(&app, &text).await;

    let secrets = category(&reviewed, "Secrets");
    assert_eq!(secrets["status"], "not_applicable");
    assert_eq!(secrets["not_applicable"][0]["overdue"], true);
    assert_eq!(secrets["not_applicable"][0]["review_date"], "2020-01-31");
    assert_eq!(reviewed["ready"], false);
}

pub async fn refused_with(app: &TestApp, text: &str, expected_at: &str, expected_message: &str) {
    let before = registry_state(app).await;

    let res = onboard(app, text).await;

    let status = res.status();
    assert!(status == 400 || status == 422, "status {status}");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.expect("json");
    let text = body.to_string();
    assert!(
        text.contains(expected_at),
        "expected location {expected_at} in {body:#}"
    );
    assert!(
        text.contains(expected_message),
        "expected {expected_message:?} in {body:#}"
    );
    assert_eq!(registry_state(app).await, before, "the registry changed");
}

#[tokio::test]
async fn malformed_toml_is_refused_with_line_and_column() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;

    refused_with(
        &app,
        "[product]\nid = \"x\"\nname = = 1\n",
        "request body:3:",
        "",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_key_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        let product = t
            .get_mut("product")
            .and_then(|p| p.as_table_mut())
            .expect("[product]");
        product.insert("colour".into(), "blue".into());
    });

    refused_with(&app, &text, "request body:", "unknown field `colour`").await;
}

fn push_entry(t: &mut toml::Table, section: &str, field: &str, entry: toml::Table) {
    let list = t
        .get_mut(section)
        .and_then(|s| s.as_table_mut())
        .and_then(|s| s.get_mut(field))
        .and_then(|f| f.as_array_mut())
        .unwrap_or_else(|| panic!("{section}.{field} is a list"));
    list.push(toml::Value::Table(entry));
}

fn entry(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[tokio::test]
async fn a_duplicate_id_is_refused_naming_both_places() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        push_entry(
            t,
            "iam",
            "scopes",
            entry(&[
                ("id", "token_factory.inference".into()),
                ("description", "again".into()),
            ]),
        );
    });

    refused_with(
        &app,
        &text,
        "iam.scopes[",
        "duplicate scope id `token_factory.inference`",
    )
    .await;
}

#[tokio::test]
async fn an_id_outside_the_product_namespace_is_refused() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        push_entry(
            t,
            "iam",
            "scopes",
            entry(&[
                ("id", "billing.steal".into()),
                ("description", "not ours".into()),
            ]),
        );
    });

    refused_with(
        &app,
        &text,
        ".id",
        "must be namespaced by the product: `token_factory.<name>`",
    )
    .await;
}

#[tokio::test]
async fn a_role_naming_an_undeclared_scope_is_refused() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        push_entry(
            t,
            "iam",
            "roles",
            entry(&[
                ("id", "token_factory.ghost".into()),
                ("description", "a role".into()),
                (
                    "scopes",
                    toml::Value::Array(vec!["token_factory.levitate".into()]),
                ),
            ]),
        );
    });

    refused_with(
        &app,
        &text,
        ".scopes",
        "`token_factory.levitate` is not a declared scope",
    )
    .await;
}

#[tokio::test]
async fn an_audit_action_naming_an_undeclared_retention_class_is_refused() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        push_entry(
            t,
            "audit",
            "actions",
            entry(&[
                ("id", "token_factory.model.renamed".into()),
                ("description", "a model was renamed".into()),
                ("privileged", true.into()),
                ("target_type", "model".into()),
                ("retention_class", "token_factory.forever".into()),
            ]),
        );
    });

    refused_with(
        &app,
        &text,
        ".retention_class",
        "`token_factory.forever` is not a declared retention_class",
    )
    .await;
}

#[tokio::test]
async fn concurrent_onboards_of_one_packet_make_one_revision() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = packet("token-factory");

    let (a, b) = tokio::join!(onboard_ok(&app, &text), onboard_ok(&app, &text));

    let unchanged = [&a, &b].iter().filter(|o| o["unchanged"] == true).count();
    assert_eq!(unchanged, 1, "{a:#} {b:#}");
    let revisions = app
        .get_items("/api/v1/registry/products/token-factory/revisions")
        .await;
    assert_eq!(revisions.as_array().expect("revisions").len(), 1);
    let scopes = app
        .get_items("/api/v1/registry/scopes?product=token_factory")
        .await;
    let mut ids: Vec<&str> = scopes
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), total, "duplicate rows");
}

fn set_aggregation(t: &mut toml::Table, unit: &str, aggregation: &str, version: Option<i64>) {
    let units = t["billing"]["usage_units"]
        .as_array()
        .expect("units")
        .clone();
    let units: Vec<toml::Value> = units
        .into_iter()
        .map(|mut u| {
            let table = u.as_table_mut().expect("unit table");
            if table["id"].as_str() == Some(unit) {
                table.insert("aggregation".into(), aggregation.into());
                if let Some(v) = version {
                    table.insert("version".into(), v.into());
                }
            }
            u
        })
        .collect();
    t["billing"]
        .as_table_mut()
        .expect("billing")
        .insert("usage_units".into(), toml::Value::Array(units));
}

#[tokio::test]
async fn changing_a_unit_aggregation_needs_a_version_bump() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    onboard_ok(&app, &packet("token-factory")).await;
    let before = app
        .get_items("/api/v1/registry/usage_units?product=token_factory")
        .await;

    let same_version = edited(&packet("token-factory"), |t| {
        set_aggregation(t, "token_factory.input_tokens", "max", None)
    });
    let res = onboard(&app, &same_version).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.expect("json");
    assert!(body.to_string().contains("aggregation"), "{body:#}");
    assert_eq!(
        app.get_items("/api/v1/registry/usage_units?product=token_factory")
            .await,
        before
    );

    let bumped = edited(&packet("token-factory"), |t| {
        set_aggregation(t, "token_factory.input_tokens", "max", Some(2))
    });
    let outcome = onboard_ok(&app, &bumped).await;
    assert_eq!(outcome["revision"], 2);
    assert_eq!(
        outcome["diff"]["changed"][0],
        "usage_unit:token_factory.input_tokens"
    );
}

#[tokio::test]
async fn an_entry_dropped_from_the_packet_is_retired_not_deleted() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    onboard_ok(&app, &packet("token-factory")).await;
    let text = edited(&packet("token-factory"), |t| {
        let templates = t["notifications"]["templates"]
            .as_array_mut()
            .expect("templates");
        templates.remove(0);
    });

    let outcome = onboard_ok(&app, &text).await;

    let retired = outcome["diff"]["retired"][0]
        .as_str()
        .expect("one retired")
        .to_owned();
    let id = retired.split_once(':').expect("family:id").1;
    let listed = app
        .get_items("/api/v1/registry/notification_templates?state=retired")
        .await;
    assert!(listed.to_string().contains(id), "{listed:#}");
}

#[tokio::test]
async fn review_of_a_stored_product_and_its_revision_history() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    onboard_ok(&app, &packet("token-factory")).await;

    let reviewed = app
        .get_json("/api/v1/registry/products/token-factory/review")
        .await;
    let shown = app
        .get_json("/api/v1/registry/products/token-factory")
        .await;

    assert_eq!(reviewed["ready"], true);
    assert_eq!(
        reviewed["questions"].as_array().expect("questions").len(),
        5
    );
    assert_eq!(shown["revision"], 1);
    assert_eq!(
        app.get("/api/v1/registry/products/nope").await.status(),
        404
    );
}

#[tokio::test]
async fn malformed_json_body_is_a_400_problem_with_its_position() {
    let app = TestApp::spawn().await;

    let res = app
        .post(
            "/api/v1/registry/packets/review",
            "application/json",
            "{\"product\": ",
        )
        .await;

    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["type"], "urn:aicloud:problem:malformed-body");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("request body:1:"),
        "{body:#}"
    );
}

#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = TestApp::spawn_with(&[("AICLOUD__SERVER__MAX_BODY_BYTES", "4096")]).await;

    let res = app
        .post("/api/v1/registry/packets/review", TOML, vec![b'#'; 5000])
        .await;

    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn an_unsupported_content_type_is_a_415_problem() {
    let app = TestApp::spawn().await;

    let res = app
        .post(
            "/api/v1/registry/packets/review",
            "text/html",
            "<p>packet</p>",
        )
        .await;

    assert_eq!(res.status(), 415);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["type"], "urn:aicloud:problem:unsupported-media-type");
}

#[tokio::test]
async fn another_server_process_sees_onboarded_entries_through_notify() {
    use std::sync::Arc;

    use aicloud::base::clock::SystemClock;
    use aicloud::base::db::Db;
    use aicloud::platform::registry::{PgRegistry, Registry};

    let app = TestApp::spawn().await;
    let db = Db::new(&app.db.url, 2, std::time::Duration::from_secs(5)).expect("pool");
    // A second registry with its own snapshot: only NOTIFY tells it about the onboard.
    let observer = PgRegistry::start(db, app.db.url.clone(), Arc::new(SystemClock))
        .await
        .expect("registry starts");
    assert!(!observer.is_active("scope", "token_factory.inference"));

    onboard_platform(&app).await;
    onboard_ok(&app, &packet("token-factory")).await;

    let mut seen = false;
    for _ in 0..50 {
        if observer.is_active("scope", "token_factory.inference") {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the observer never saw the onboarded scope");
    assert!(observer.is_active("usage_unit", "token_factory.output_tokens"));
    assert!(
        !observer.is_active("scope", "token_factory.unknown"),
        "unknown entries fail closed"
    );
    assert!(
        !observer.is_active("usage_unit", "token_factory.inference"),
        "families do not mix"
    );
}

/// Every entry of the packet declared active (no `state = "draft"` anywhere).
fn without_drafts(t: &mut toml::Table) {
    for section in t.iter_mut().filter_map(|(_, s)| s.as_table_mut()) {
        let fields: Vec<String> = section.keys().cloned().collect();
        for field in fields {
            for entry in section[&field].as_array_mut().into_iter().flatten() {
                if let Some(entry) = entry.as_table_mut() {
                    entry.remove("state");
                }
            }
        }
    }
}

fn preview_scope(state: Option<&str>) -> toml::Table {
    let mut scope = entry(&[
        ("id", "token_factory.preview".into()),
        ("description", "early access to preview models".into()),
    ]);
    if let Some(state) = state {
        scope.insert("state".into(), state.into());
    }
    scope
}

#[tokio::test]
async fn a_product_stays_onboarding_until_its_draft_entries_are_active() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let with_draft = edited(&packet("token-factory"), |t| {
        without_drafts(t);
        push_entry(t, "iam", "scopes", preview_scope(Some("draft")));
    });
    let promoted = edited(&packet("token-factory"), |t| {
        without_drafts(t);
        push_entry(t, "iam", "scopes", preview_scope(None));
    });

    onboard_ok(&app, &with_draft).await;
    let shown = app
        .get_json("/api/v1/registry/products/token-factory")
        .await;
    assert_eq!(shown["lifecycle"], "onboarding");
    assert_eq!(shown["declared_lifecycle"], "active");
    let drafts = app.get_items("/api/v1/registry/scopes?state=draft").await;
    assert!(drafts.to_string().contains("token_factory.preview"));

    let outcome = onboard_ok(&app, &promoted).await;

    assert_eq!(outcome["lifecycle"], "active");
    assert_eq!(outcome["diff"]["changed"][0], "scope:token_factory.preview");
}

#[tokio::test]
async fn an_empty_required_list_counts_as_missing() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        let roles = t["iam"]["roles"].as_array_mut().expect("roles");
        roles[0]
            .as_table_mut()
            .expect("role")
            .insert("scopes".into(), toml::Value::Array(Vec::new()));
    });

    let reviewed = review(&app, &text).await;

    let iam = category(&reviewed, "IAM");
    assert_eq!(iam["status"], "missing");
    assert!(
        iam["missing"][0]
            .as_str()
            .expect("missing")
            .starts_with("iam.roles[0].scopes"),
        "{iam:#}"
    );
}

#[tokio::test]
async fn a_section_both_not_applicable_and_declared_is_refused() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        let mut na = toml::Table::new();
        na.insert("owner".into(), "someone".into());
        na.insert("reason".into(), "contradiction".into());
        na.insert("review_date".into(), "2027-05-01".into());
        t["secrets"]
            .as_table_mut()
            .expect("[secrets]")
            .insert("not_applicable".into(), toml::Value::Table(na));
    });

    refused_with(
        &app,
        &text,
        "secrets",
        "is not_applicable but also declares `purposes`",
    )
    .await;
}

#[tokio::test]
async fn editing_a_persona_page_needs_no_version_bump() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    onboard_ok(&app, &packet("token-factory")).await;
    let text = edited(&packet("token-factory"), |t| {
        let pages = t["portal"]["pages"].as_array_mut().expect("pages");
        pages[0]
            .as_table_mut()
            .expect("page")
            .insert("body".into(), "Rewritten.".into());
    });

    let outcome = onboard_ok(&app, &text).await;

    assert_eq!(outcome["revision"], 2);
    assert!(
        outcome["diff"]["changed"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{outcome:#}"))
            .starts_with("portal_page:")
    );
}
