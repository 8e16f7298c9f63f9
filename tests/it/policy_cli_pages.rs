//! `aicloud policy ...` as an operator runs it, and the policy pages: the plans, an
//! organization's usage bars, and a project's override set through the portal form.

use std::process::Output;

use crate::helpers::{ADMIN_EMAIL, TestDb, aicloud, csrf_in};
use crate::iam_tenants::{PASSWORD, tenants};

const RPM: &str = "token_factory.requests_per_minute";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `aicloud` and insists it succeeded; its standard output.
fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = aicloud(db, args);
    assert!(out.status.success(), "aicloud {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn page(client: &reqwest::Client, url: String) -> (u16, String) {
    let res = client.get(url).send().await.expect("sent");
    (res.status().as_u16(), res.text().await.expect("body"))
}

/// `aicloud policy override set` for acme's default project's requests per minute.
fn narrow_default<'a>(value: &'a str, reason: &'a str) -> Vec<&'a str> {
    let scope = [
        "--level",
        "project",
        "--org",
        "acme",
        "--project",
        "default",
    ];
    let mut args = vec!["policy", "override", "set"];
    args.extend(scope);
    args.extend(["--dimension", RPM, "--value", value, "--reason", reason]);
    args
}

#[test]
fn an_operator_creates_a_plan_narrows_a_project_and_reads_why() {
    let db = TestDb::create();
    for packet in ["platform", "token-factory"] {
        ok(
            &db,
            &[
                "product",
                "onboard",
                &format!("config/products/{packet}.toml"),
            ],
        );
    }
    ok(&db, &["org", "create", "acme", "--name", "Acme"]);

    let created = ok(
        &db,
        &[
            "policy",
            "plan",
            "create",
            "starter",
            "--description",
            "For trials",
            "--limit",
            &format!("{RPM}=600"),
            "--limit",
            "token_factory.monthly_tokens=unlimited",
            "--delegate",
            "token_factory.monthly_tokens",
        ],
    );
    let listed = ok(&db, &["policy", "plan", "list", "--json"]);
    ok(&db, &["policy", "assign", "acme", "starter"]);
    let set = ok(&db, &narrow_default("100", "pilot traffic only"));
    let explained = ok(&db, &["policy", "explain", "acme", "default"]);
    let snapshot = ok(&db, &["policy", "snapshot", "acme", "default", "--json"]);
    let widened = aicloud(&db, &narrow_default("9000", "more"));

    assert!(
        created.contains("created plan starter version 1"),
        "{created}"
    );
    let plans: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let starter = plans
        .as_array()
        .expect("a list")
        .iter()
        .find(|p| p["name"] == "starter")
        .expect("starter listed");
    assert_eq!(starter["products"], serde_json::json!(["*"]));
    let monthly = starter["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .find(|l| l["dimension"] == "token_factory.monthly_tokens")
        .expect("monthly tokens");
    assert_eq!(monthly["delegate"], true);
    assert!(set.contains("set override"), "{set}");
    assert!(
        explained.contains("acme/default: plan starter@1"),
        "{explained}"
    );
    let rpm_block = explained
        .split("\n\n")
        .find(|b| b.starts_with(RPM))
        .expect("the RPM dimension explained");
    assert!(
        rpm_block.starts_with(&format!("{RPM}: 100 (from project ")),
        "{rpm_block}"
    );
    assert!(rpm_block.contains("plan starter@1"), "{rpm_block}");
    assert!(rpm_block.contains("pilot traffic only"), "{rpm_block}");
    assert!(
        rpm_block.contains("LEVEL"),
        "a table with a header: {rpm_block}"
    );
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).expect("json");
    let rpm = snapshot["dimensions"]
        .as_array()
        .expect("dimensions")
        .iter()
        .find(|d| d["dimension"] == RPM)
        .expect("rpm");
    assert_eq!(
        rpm["ceiling"],
        serde_json::json!({"kind": "limit", "amount": 100})
    );
    assert_eq!(rpm["scope"], "project");
    assert!(!widened.status.success(), "wider than the plan is refused");
    assert!(text(&widened).contains("value"), "{}", text(&widened));
}

/// Puts org-a on a plan that limits requests per minute, through the API.
async fn limited(t: &crate::iam_tenants::Tenants) {
    let plan = serde_json::json!({
        "name": "team", "description": "Teams", "products": ["*"],
        "limits": [{"dimension": RPM, "value": {"kind": "limit", "amount": 600}}],
    });
    let assignment = serde_json::json!({"plan": "team"});
    for (path, body) in [
        ("/api/v1/policy/plans", plan),
        ("/api/v1/policy/orgs/org-a/plan", assignment),
    ] {
        let res = t.app.post(path, "application/json", body.to_string()).await;
        let status = res.status();
        assert_eq!(
            status,
            201,
            "{path}: {}",
            res.text().await.unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn the_platform_admin_sees_the_plans_and_each_projects_usage_bars() {
    let t = tenants().await;
    limited(&t).await;
    let admin = t.app.admin().await;

    let (status, home) = page(&admin, t.app.url("/policy")).await;
    let (org_status, org) = page(&admin, t.app.url("/policy/org-a")).await;
    let (missing, _) = page(&admin, t.app.url("/policy/no-such-org")).await;

    assert_eq!(status, 200, "{home}");
    assert!(home.contains(r#"id="plan-team""#), "{home}");
    assert!(home.contains(&format!("{RPM} = 600")), "{home}");
    assert!(home.contains(r#"href="/policy/org-a""#), "{home}");
    assert_eq!(org_status, 200, "{org}");
    assert!(org.contains("<code>team</code>"), "the assignment: {org}");
    assert!(
        org.contains(r#"<meter class="usage-bar" min="0" max="600" value="0""#),
        "{org}"
    );
    assert!(
        org.contains("unlimited"),
        "other dimensions have no ceiling"
    );
    assert_eq!(missing, 404);
}

#[tokio::test]
async fn an_override_set_with_the_form_narrows_the_bar_and_can_be_cleared() {
    let t = tenants().await;
    limited(&t).await;
    let admin = t.app.admin().await;
    let (_, html) = page(&admin, t.app.url("/policy/org-a")).await;
    assert!(html.contains(r#"id="override-form""#), "{html}");
    let csrf = csrf_in(&html);
    let day = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
    let (expires, until) = (day.to_string(), day.next_day().expect("a day").to_string());
    let form = |value: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("project", "default".to_owned()),
            ("dimension", RPM.to_owned()),
            ("value", value.to_owned()),
            ("reason", "a noisy neighbour".to_owned()),
            ("expires_at", expires.clone()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        admin
            .post(t.app.url("/policy/org-a/overrides"))
            .form(&fields)
            .send()
    };

    let done = post(form("50")).await.expect("sent");
    let (_, after) = page(&admin, t.app.url("/policy/org-a")).await;
    let explained = ok(&t.app.db, &["policy", "explain", "org-a", "default"]);
    let wider = post(form("5000")).await.expect("sent");
    let wider_status = wider.status().as_u16();
    let wider_html = wider.text().await.expect("html");
    let mut forged = form("10");
    forged[0].1 = "not-the-token".to_owned();
    let forged = post(forged).await.expect("sent");

    assert_eq!(done.status(), 303);
    assert!(
        after.contains(r#"<meter class="usage-bar" min="0" max="50" value="0""#),
        "{after}"
    );
    assert!(
        after.contains("a noisy neighbour")
            && after.contains(&format!("live until {until} 00:00:00")),
        "{after}"
    );
    assert!(
        explained.contains(&format!("by {ADMIN_EMAIL}, until")),
        "explain names who set it as people know them: {explained}"
    );
    assert_eq!(wider_status, 422, "{wider_html}");
    assert!(
        wider_html.contains(r#"id="override-error""#),
        "{wider_html}"
    );
    assert!(
        wider_html.contains(r#"value="5000""#),
        "the form keeps what was typed"
    );
    assert_eq!(forged.status(), 403);

    let id_at = after.find("/overrides/").expect("a clear form") + "/overrides/".len();
    let id = &after[id_at..id_at + 36];
    let cleared = admin
        .post(t.app.url(&format!("/policy/org-a/overrides/{id}/clear")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(cleared.status(), 303);
    let (_, last) = page(&admin, t.app.url("/policy/org-a")).await;
    assert!(last.contains("cleared "), "{last}");
    assert!(
        last.contains(r#"max="600""#),
        "the plan's value binds again"
    );
}

#[tokio::test]
async fn a_tenant_reads_its_own_organizations_limits_and_nothing_of_anothers() {
    let t = tenants().await;
    let alice = t.app.sign_in("alice@a.example", PASSWORD).await;

    let (home_status, home) = page(&alice, t.app.url("/policy")).await;
    let (own, html) = page(&alice, t.app.url("/policy/org-a")).await;
    let (other, _) = page(&alice, t.app.url("/policy/org-b")).await;

    assert_eq!(home_status, 200, "{home}");
    assert!(
        !home.contains(r#"id="plans""#),
        "plans are for the platform"
    );
    assert!(home.contains(r#"href="/policy/org-a""#) && !home.contains("org-b"));
    assert_eq!(own, 200, "{html}");
    assert!(html.contains("usage-default"), "{html}");
    assert!(
        html.contains(r#"id="override-form""#),
        "an owner may narrow"
    );
    assert_eq!(other, 404, "org-b is another tenant's");
}

#[tokio::test]
async fn an_owner_sees_an_operators_override_marked_and_cannot_clear_it() {
    let t = tenants().await;
    limited(&t).await;
    let imposed = serde_json::json!({
        "level": "organization", "organization": "org-a", "dimension": RPM,
        "value": {"kind": "limit", "amount": 60}, "reason": "abuse report",
    });
    let res = t.app.post(
        "/api/v1/policy/overrides",
        "application/json",
        imposed.to_string(),
    );
    let set: serde_json::Value = res.await.json().await.expect("json");
    let id = set["id"].as_str().expect("id");
    let alice = t.app.sign_in("alice@a.example", PASSWORD).await;

    let (_, html) = page(&alice, t.app.url("/policy/org-a")).await;
    let clear = format!("/policy/org-a/overrides/{id}/clear");
    let refused = alice
        .post(t.app.url(&clear))
        .form(&[("csrf", csrf_in(&html).as_str())])
        .send()
        .await
        .expect("sent");
    let (_, after) = page(&alice, t.app.url("/policy/org-a")).await;

    assert!(html.contains("abuse report"), "{html}");
    assert!(
        html.contains(r#"<span class="tag">operator</span>"#),
        "{html}"
    );
    assert!(
        !html.contains(&clear),
        "no clear button for the owner: {html}"
    );
    assert_eq!(refused.status(), 403);
    assert!(after.contains(r#"max="60""#), "still binds: {after}");
}

#[tokio::test]
async fn entitlements_are_granted_withheld_and_cleared_with_the_forms() {
    const PREMIUM: &str = "token_factory.premium_models";
    const INFERENCE: &str = "token_factory.project_inference";
    let t = tenants().await;
    let admin = t.app.admin().await;
    let alice = t.app.sign_in("alice@a.example", PASSWORD).await;
    let url = t.app.url("/policy/org-a");
    let send = |who: &reqwest::Client, fields: Vec<(&'static str, String)>| {
        who.post(t.app.url("/policy/org-a/entitlements"))
            .form(&fields)
            .send()
    };
    let form = |csrf: &str, entitlement: &str, project: &str, setting: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("entitlement", entitlement.to_owned()),
            ("project", project.to_owned()),
            ("setting", setting.to_owned()),
            ("reason", "pilot".to_owned()),
        ]
    };

    let (_, before) = page(&admin, url.clone()).await;
    let premium_row = format!(r#"<tr id="standing-default-{PREMIUM}">"#);
    assert!(before.contains(&premium_row), "{before}");
    let row = |html: &str| {
        html[html.find(&premium_row).expect("the row")..]
            .split("</tr>")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        row(&before).contains(">withheld<") && row(&before).ends_with("<td>default</td>"),
        "{}",
        row(&before)
    );
    let csrf = csrf_in(&before);
    let granted = send(&admin, form(&csrf, PREMIUM, "default", "grant"))
        .await
        .expect("sent");
    assert_eq!(granted.status(), 303);

    let (_, html) = page(&alice, url.clone()).await;
    assert!(
        row(&html).contains(">held<") && row(&html).ends_with("<td>project</td>"),
        "{}",
        row(&html)
    );
    assert!(
        html.contains(&format!(
            r#"<td>{ADMIN_EMAIL} <span class="tag">operator</span>"#
        )),
        "the setting names who set it as people know them: {html}"
    );
    assert!(
        !html.contains("clear-setting"),
        "the owner cannot clear an operator's: {html}"
    );
    let csrf = csrf_in(&html);
    let lift = send(&alice, form(&csrf, PREMIUM, "default", "withhold"))
        .await
        .expect("sent");
    let lift_status = lift.status();
    let lift_html = lift.text().await.expect("html");
    assert_eq!(lift_status, 403, "{lift_html}");
    assert!(
        lift_html.contains(r#"id="entitlement-error""#),
        "{lift_html}"
    );
    let wrong = send(
        &alice,
        form(&csrf, "token_factory.access", "default", "withhold"),
    )
    .await
    .expect("sent");
    assert_eq!(
        wrong.status(),
        422,
        "an organization's entitlement set per project"
    );

    let own = send(&alice, form(&csrf, INFERENCE, "", "withhold"))
        .await
        .expect("sent");
    assert_eq!(own.status(), 303);
    let (_, html) = page(&alice, url.clone()).await;
    let inference_row = format!(r#"<tr id="standing-default-{INFERENCE}">"#);
    let at = html.find(&inference_row).expect("inference row");
    assert!(
        html[at..]
            .split("</tr>")
            .next()
            .unwrap_or_default()
            .contains(">withheld<"),
        "{html}"
    );
    let clear_at = html
        .find("/entitlements/")
        .expect("a clear form for the owner's own")
        + "/entitlements/".len();
    let id = &html[clear_at..clear_at + 36];
    let cleared = alice
        .post(t.app.url(&format!("/policy/org-a/entitlements/{id}/clear")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(cleared.status(), 303);
    let (_, last) = page(&alice, url).await;
    assert!(!last.contains("clear-setting"), "{last}");
    assert!(
        row(&last).contains(">held<"),
        "the operator's grant stays: {}",
        row(&last)
    );
}

#[test]
fn an_operator_grants_premium_models_to_a_project_sees_it_in_the_snapshot_and_clears_it() {
    const PREMIUM: &str = "token_factory.premium_models";
    let db = TestDb::create();
    for packet in ["platform", "token-factory"] {
        let path = format!("config/products/{packet}.toml");
        ok(&db, &["product", "onboard", &path]);
    }
    ok(&db, &["org", "create", "acme", "--name", "Acme"]);
    let standing = |db: &TestDb| {
        let snapshot = ok(db, &["policy", "snapshot", "acme", "default", "--json"]);
        let snapshot: serde_json::Value = serde_json::from_str(&snapshot).expect("json");
        snapshot["entitlements"]
            .as_array()
            .expect("entitlements")
            .iter()
            .find(|e| e["entitlement"] == PREMIUM)
            .map(|e| e["held"].clone())
            .expect("premium listed")
    };
    assert_eq!(standing(&db), false, "withheld by default");

    let scope = ["--org", "acme", "--project", "default"];
    let mut grant = vec!["policy", "entitlement", "grant", PREMIUM];
    grant.extend(scope);
    grant.extend(["--reason", "enterprise pilot", "--json"]);
    let granted: serde_json::Value = serde_json::from_str(&ok(&db, &grant)).expect("json");
    let snapshot = ok(&db, &["policy", "snapshot", "acme", "default"]);
    let listed = ok(&db, &["policy", "entitlement", "list", "--org", "acme"]);
    let no_scope = aicloud(
        &db,
        &["policy", "entitlement", "grant", PREMIUM, "--reason", "x"],
    );

    assert_eq!(
        (granted["level"].clone(), granted["imposed"].clone()),
        ("project".into(), true.into())
    );
    assert_eq!(standing(&db), true);
    let line = snapshot
        .lines()
        .find(|l| l.starts_with(PREMIUM))
        .expect("premium in the snapshot's table");
    assert!(line.contains("held") && line.contains("project"), "{line}");
    assert!(
        listed.contains("enterprise pilot") && listed.contains("operator"),
        "{listed}"
    );
    assert!(!no_scope.status.success());
    assert!(
        text(&no_scope).contains("name one scope"),
        "{}",
        text(&no_scope)
    );

    let id = granted["id"].as_str().expect("id");
    let cleared = ok(&db, &["policy", "entitlement", "clear", id]);
    assert!(cleared.contains("cleared setting"), "{cleared}");
    assert_eq!(standing(&db), false);
}
