//! Joining an organization takes the consent of whoever can sign in to the account, and no
//! answer tells a tenant whether an address has an account.

use serde_json::{Value, json};

use crate::helpers::{cookie_client, csrf_in};
use crate::iam_tenants::{PASSWORD, api, tenants};

/// Alice's invitation link for `email`, as the API shows it to her once.
async fn invitation(t: &crate::iam_tenants::Tenants, email: &str) -> String {
    let body = json!({ "email": email, "role": "member" });
    let path = "/api/v1/iam/orgs/org-a/invitations";
    let res = api(&t.app, &t.alice_key, "POST", path, Some(body)).await;
    assert_eq!(res.status(), 201);
    let issued: Value = res.json().await.expect("invitation");
    format!("/invitations/{}", issued["token"].as_str().expect("token"))
}

/// org-a's members, as its owner sees them.
async fn members_of_org_a(t: &crate::iam_tenants::Tenants) -> Value {
    let path = "/api/v1/iam/orgs/org-a/members";
    let res = api(&t.app, &t.alice_key, "GET", path, None).await;
    res.json().await.expect("members")
}

/// Creates the invited account from `link` without signing in; the response's status and
/// location.
async fn join(t: &crate::iam_tenants::Tenants, link: &str, password: &str) -> (u16, String) {
    let visitor = cookie_client();
    let page = visitor.get(t.app.url(link)).send().await.expect("page");
    let csrf = csrf_in(&page.text().await.expect("html"));
    let res = visitor
        .post(t.app.url(&format!("{link}/join")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("display_name", "Someone"),
            ("password", password),
            ("repeat", password),
        ])
        .send()
        .await
        .expect("sent");
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (res.status().as_u16(), location)
}

#[tokio::test]
async fn a_tenant_adds_nobody_without_consent_and_cannot_tell_who_has_an_account() {
    let t = tenants().await;
    let t = &t;
    let add = |email: &'static str| async move {
        let path = format!("/api/v1/iam/orgs/org-a/members/{email}");
        let body = Some(json!({ "role": "member" }));
        api(&t.app, &t.alice_key, "PUT", &path, body).await
    };

    let existing = add("bob@b.example").await;
    let unknown = add("nobody@x.example").await;

    let (a, b) = (existing.status(), unknown.status());
    let detail = |v: Value, email: &str| v["detail"].as_str().expect("detail").replace(email, "X");
    let a_text = detail(existing.json().await.expect("problem"), "bob@b.example");
    let b_text = detail(unknown.json().await.expect("problem"), "nobody@x.example");
    assert_eq!(
        (a, b),
        (
            reqwest::StatusCode::NOT_FOUND,
            reqwest::StatusCode::NOT_FOUND
        )
    );
    assert_eq!(a_text, b_text, "the same answer with or without an account");
    assert!(a_text.contains("invite them"), "{a_text}");
    let members = members_of_org_a(t).await;
    assert!(
        !members.to_string().contains("bob@b.example"),
        "bob was not added"
    );
}

#[tokio::test]
async fn an_invitation_link_never_tells_whether_an_account_exists_nor_joins_by_itself() {
    let t = tenants().await;
    let for_bob = invitation(&t, "bob@b.example").await;
    let for_new = invitation(&t, "new@x.example").await;

    let (bob_status, bob_next) = join(&t, &for_bob, "the inviter's chosen password").await;
    let (new_status, new_next) = join(&t, &for_new, "the inviter's chosen password").await;

    assert_eq!((bob_status, new_status), (303, 303));
    assert_eq!(bob_next, format!("/login?next={for_bob}"));
    assert_eq!(new_next, format!("/login?next={for_new}"));
    assert_eq!(
        t.app.try_sign_in("bob@b.example", PASSWORD).await.1,
        303,
        "bob's own password"
    );
    let taken = t
        .app
        .try_sign_in("bob@b.example", "the inviter's chosen password");
    assert_eq!(taken.await.1, 401, "nobody took over bob's account");
    let members = members_of_org_a(&t).await;
    let emails = members.to_string();
    assert!(!emails.contains("bob@b.example") && !emails.contains("new@x.example"));
}

#[tokio::test]
async fn accounts_whose_address_was_never_proven_are_marked_where_access_is_granted() {
    let t = tenants().await;

    let members = members_of_org_a(&t).await;

    let items = members["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|m| m["email_verified"] == false),
        "{members}"
    );
    let alice = t.app.sign_in("alice@a.example", PASSWORD).await;
    let page = alice
        .get(t.app.url("/access/org-a"))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    assert!(html.contains(">unverified</span>"), "{html}");
}
