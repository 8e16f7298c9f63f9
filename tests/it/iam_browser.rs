//! The key-creation flow in headless Chromium, as a person does it: sign in, open the
//! project, tick a scope, create the key, copy it once, use it, revoke it.

use std::ffi::OsStr;
use std::time::Duration;

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{Value, json};

use crate::helpers::{TestApp, packet, platform_for};

const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "a long browser passphrase";

fn browser() -> Browser {
    let args = [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let options = LaunchOptions::default_builder()
        .path(Some(CHROMIUM.into()))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1280, 1000)))
        .args(args.iter().map(OsStr::new).collect())
        .idle_browser_timeout(Duration::from_secs(60))
        .build()
        .expect("launch options");
    Browser::new(options).expect("chromium starts (apt-get install chromium)")
}

fn value_of(tab: &Tab, selector: &str) -> String {
    let element = tab.wait_for_element(selector).expect(selector);
    let value = element
        .call_js_fn("function() { return this.value; }", vec![], false)
        .expect("value")
        .value;
    value
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("a string value")
}

fn text_of(tab: &Tab, selector: &str) -> String {
    tab.wait_for_element(selector)
        .expect(selector)
        .get_inner_text()
        .expect("text")
}

/// The text of `selector` once it contains `wanted` (or its text after 5 s, for the
/// assertion to show).
fn wait_for_text(tab: &Tab, selector: &str, wanted: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let text = text_of(tab, selector);
        if text.contains(wanted) || started.elapsed() > Duration::from_secs(5) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn screenshot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    std::fs::write(dir.join(name), png).expect("screenshot written");
}

/// Signs in, creates a key with one ticked scope, copies it; returns the copied secret.
fn create_key_as_a_person(base: &str, email: &str) -> (String, String) {
    let browser = browser();
    let tab = browser.new_tab().expect("tab");
    tab.navigate_to(&format!("{base}/login?next=/access"))
        .expect("login")
        .wait_until_navigated()
        .expect("loaded");
    tab.wait_for_element("input[name=email]")
        .expect("email")
        .click()
        .expect("focus");
    tab.type_str(email).expect("typed");
    tab.wait_for_element("input[name=password]")
        .expect("password")
        .click()
        .expect("focus");
    tab.type_str(PASSWORD).expect("typed");
    tab.wait_for_element("button[type=submit]")
        .expect("submit")
        .click()
        .expect("signed in");
    tab.wait_for_element("#organizations a")
        .expect("my organizations")
        .click()
        .expect("org");
    tab.wait_for_element("#members").expect("organization page");
    screenshot(&tab, "organization.png");
    tab.wait_for_element("#projects a")
        .expect("projects")
        .click()
        .expect("project");
    tab.wait_for_element("#create-key input[name=name]")
        .expect("key form")
        .click()
        .expect("focus");
    tab.type_str("laptop").expect("typed");
    tab.wait_for_element("input[name=scopes][value='platform.iam.read']")
        .expect("scope checkbox")
        .click()
        .expect("ticked");
    tab.wait_for_element("#create-key button[type=submit]")
        .expect("create")
        .click()
        .expect("created");
    let secret = value_of(&tab, "#new-key #secret");
    tab.wait_for_element("#new-key button.copy")
        .expect("copy")
        .click()
        .expect("copied");
    // The button says so once the clipboard write has happened: wait for that, not a time.
    let copy_label = wait_for_text(&tab, "#new-key button.copy", "Copied");
    screenshot(&tab, "key-created.png");
    // Shown once: the project page, opened again, lists the key but not its secret.
    let posted = tab.get_url();
    let project_page = posted
        .strip_suffix("/keys")
        .expect("the form posts to .../keys");
    tab.navigate_to(project_page)
        .expect("reload")
        .wait_until_navigated()
        .expect("loaded");
    let html = tab.get_content().expect("html");
    assert!(!html.contains(&secret), "the secret is shown only once");
    assert!(text_of(&tab, "#keys").contains("laptop"));
    // Revoke it as a person would.
    tab.wait_for_element("#keys button.danger")
        .expect("revoke")
        .click()
        .expect("revoked");
    tab.wait_for_element("#keys .tag.bad")
        .expect("marked revoked");
    screenshot(&tab, "key-revoked.png");
    (secret, copy_label)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_creates_copies_uses_and_revokes_a_key_in_chromium() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key().await.to_owned();
    let tf = app
        .post(
            "/api/v1/registry/packets/onboard",
            "application/toml",
            packet("token-factory"),
        )
        .await;
    assert_eq!(tf.status(), 200);
    let platform = platform_for(&app.db, &[]).await;
    let actor = aicloud::platform::iam::Caller::Console("test".into());
    platform
        .people
        .create_user(&actor, "pat@example.test", "Pat", PASSWORD)
        .await
        .expect("user");
    let org = app
        .client
        .post(app.url("/api/v1/iam/orgs"))
        .bearer_auth(&admin)
        .json(&json!({ "slug": "pats", "name": "Pat's team", "owner": "pat@example.test" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(org.status(), 201);

    let base = app.address.clone();
    let (secret, copy_label) =
        tokio::task::spawn_blocking(move || create_key_as_a_person(&base, "pat@example.test"))
            .await
            .expect("browser flow");

    assert!(secret.starts_with("aic_"), "{secret}");
    assert_eq!(copy_label, "Copied");
    // The key was revoked in the browser: the server denies it within a second.
    let mut status = 0;
    for _ in 0..50 {
        let res = app
            .client
            .get(app.url("/api/v1/iam/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .expect("me");
        status = res.status().as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401);
    // And the audit trail has both steps, attributed to the person.
    let events: Value = app
        .get_json("/api/v1/audit/events?target_type=api_key")
        .await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["actor"]["kind"] == "user")
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert!(actions.contains(&"platform.api_key.issued"), "{actions:?}");
    assert!(actions.contains(&"platform.api_key.revoked"), "{actions:?}");
}
