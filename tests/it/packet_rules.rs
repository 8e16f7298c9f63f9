//! What a packet may not do: grant platform scopes from a product role, leave open whether
//! tenants may bind a role, smuggle script into its pages; and who may read the registry.

use serde_json::{Value, json};

use crate::helpers::{TestApp, edited, packet};
use crate::iam_tenants::{api, session, tenants};
use crate::registry::{onboard, onboard_platform, refused_with, review};

/// The role `id` of a packet's `[[iam.roles]]`.
fn role<'t>(t: &'t mut toml::Table, id: &str) -> &'t mut toml::Table {
    t["iam"]["roles"]
        .as_array_mut()
        .expect("roles")
        .iter_mut()
        .filter_map(toml::Value::as_table_mut)
        .find(|r| r["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no role {id}"))
}

fn grant(t: &mut toml::Table, id: &str, scope: &str) {
    role(t, id)["scopes"]
        .as_array_mut()
        .expect("scopes")
        .push(scope.into());
}

#[tokio::test]
async fn a_product_role_granting_a_platform_scope_off_the_allow_list_is_refused_naming_both() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    // `token_factory.consumer` is the first role and grants two scopes of its own.
    let text = edited(&packet("token-factory"), |t| {
        grant(t, "token_factory.consumer", "platform.admin");
        grant(t, "token_factory.consumer", "platform.iam.write");
    });

    let reviewed = review(&app, &text).await;

    assert_eq!(reviewed["ready"], false);
    let errors = reviewed["errors"].to_string();
    for (at, scope) in [
        ("iam.roles[0].scopes[2]", "platform.admin"),
        ("iam.roles[0].scopes[3]", "platform.iam.write"),
    ] {
        assert!(errors.contains(at), "{at} in {errors}");
        let message = format!("role `token_factory.consumer` may not grant `{scope}`");
        assert!(errors.contains(&message), "{message} in {errors}");
    }
    let message = "role `token_factory.consumer` may not grant `platform.admin`";
    refused_with(&app, &text, "iam.roles[0].scopes[2]", message).await;
}

#[tokio::test]
async fn a_role_that_does_not_say_whether_tenants_may_bind_it_is_refused() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let text = edited(&packet("token-factory"), |t| {
        role(t, "token_factory.operator").remove("tenant_bindable");
    });

    let reviewed = review(&app, &text).await;

    assert_eq!(reviewed["ready"], false);
    let missing = reviewed["categories"].to_string();
    let field = "iam.roles[2].tenant_bindable (token_factory.operator)";
    assert!(missing.contains(field), "{field} in {missing}");
    refused_with(&app, &text, field, "missing (IAM)").await;
}

#[tokio::test]
async fn an_owner_cannot_bind_a_role_tenants_may_not_bind_but_a_platform_administrator_can() {
    let t = tenants().await;
    let app = &t.app;
    let bindings = "/api/v1/iam/orgs/org-a/role-bindings";
    let operator = json!({ "email": "alice@a.example", "role": "token_factory.operator" });
    let consumer = json!({ "email": "alice@a.example", "role": "token_factory.consumer" });
    let (alice, csrf) = session(app, "alice@a.example").await;
    let bind = |body: &Value| {
        alice
            .post(app.url(bindings))
            .header("x-csrf-token", &csrf)
            .json(body)
            .send()
    };

    let refused = bind(&operator).await.expect("sent");
    let allowed = bind(&consumer).await.expect("sent");

    assert_eq!(refused.status(), 403);
    let text = refused.text().await.expect("text");
    assert!(
        text.contains("`token_factory.operator` is not bindable by tenants"),
        "{text}"
    );
    assert_eq!(allowed.status(), 201);
    let admin = app.admin_key().await;
    let res = api(app, admin, "POST", bindings, Some(operator)).await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

/// Every `href` and `src` value of the tags in `html` (not of text that looks like a tag).
fn targets(html: &str) -> Vec<&str> {
    html.split('<')
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .flat_map(|tag| {
            [" href=\"", " src=\""]
                .into_iter()
                .flat_map(move |open| tag.split(open).skip(1))
        })
        .filter_map(|value| value.split('"').next())
        .collect()
}

#[tokio::test]
async fn packet_markdown_keeps_only_http_https_mailto_and_relative_targets() {
    let app = TestApp::spawn().await;
    onboard_platform(&app).await;
    let body = "\
[web](https://example.com/docs) [mail](mailto:ops@example.com) [here](/docs/keys)\n\
[js](javascript:alert(1)) [JS](JaVaScRiPt:alert(2)) [tab](java&#9;script:alert(3))\n\
[vb](vbscript:msgbox(4)) [page](data:text/html;base64,PHNjcmlwdD4=) <javascript:alert(5)>\n\
[by reference][evil] [![logo](https://example.com/logo.png)](javascript:alert(6))\n\
![pixel](data:image/png;base64,iVBORw0KGgo=) ![icon](javascript:alert(7))\n\
<a href=\"javascript:alert(8)\">raw</a> <img src=x onerror=alert(9)>\n\
\n\
[evil]: javascript:alert(10)\n";
    let text = edited(&packet("token-factory"), |t| {
        let pages = t["portal"]["pages"].as_array_mut().expect("pages");
        pages[0]
            .as_table_mut()
            .expect("page")
            .insert("body".into(), body.into());
    });
    assert_eq!(onboard(&app, &text).await.status(), 200);
    let table: toml::Table = toml::from_str(&text).expect("toml");
    let id = table["portal"]["pages"][0]["id"].as_str().expect("page id");

    let res = app
        .page(&format!("/products/token-factory/pages/{id}"))
        .await;

    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(
        html.contains(r#"<a href="https://example.com/docs">web</a>"#),
        "{html}"
    );
    assert!(html.contains(r#"<a href="mailto:ops@example.com">mail</a>"#));
    assert!(html.contains(r#"<a href="/docs/keys">here</a>"#));
    // Refused links and images leave their text; an allowed image inside a refused link stays.
    let plain = "js JS tab\nvb page javascript:alert(5)\n\
                 by reference <img src=\"https://example.com/logo.png\" alt=\"logo\" />\n\
                 pixel icon\n";
    assert!(html.contains(plain), "{html}");
    assert!(!html.contains("<a href=\"javascript") && !html.contains("<img src=x"));
    for target in targets(&html) {
        let scheme = target.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        let relative = scheme.as_ref().is_none_or(|s| s.contains(['/', '?', '#']));
        assert!(
            relative || ["http", "https", "mailto"].contains(&scheme.as_deref().unwrap_or("")),
            "`{target}` in {html}"
        );
    }
}

#[tokio::test]
async fn registry_reads_need_the_registry_read_scope() {
    let t = tenants().await;
    let app = &t.app;
    let reads = [
        "/api/v1/registry/products",
        "/api/v1/registry/products/token-factory",
        "/api/v1/registry/products/token-factory/review",
        "/api/v1/registry/products/token-factory/revisions",
        "/api/v1/registry/scopes",
    ];
    let admin = app.admin_key().await;

    for path in reads {
        // An organization owner's key holds every owner scope, but not the registry's.
        let tenant = api(app, &t.alice_key, "GET", path, None).await;
        let platform = api(app, admin, "GET", path, None).await;

        assert_eq!(tenant.status(), 403, "GET {path} with a tenant's key");
        let text = tenant.text().await.expect("text");
        assert!(text.contains("platform"), "GET {path}: {text}");
        assert_eq!(
            platform.status(),
            200,
            "GET {path} with the administrator's key"
        );
    }
}
