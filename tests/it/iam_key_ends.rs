//! Access never outlives its grant: removing a member revokes their keys in that
//! organization for good, and only the right people may end a person's key.

use serde_json::{Value, json};

use crate::iam_tenants::{api, audited, denied_within_a_second, tenants};

const KEYS: &str = "/api/v1/iam/orgs/org-a/projects/default/keys";
const DAVE: &str = "/api/v1/iam/orgs/org-a/members/dave@a.example";

/// The prefix of a key secret `aic_<prefix>_<secret>`.
fn prefix(secret: &str) -> &str {
    secret.split('_').nth(1).expect("a prefix")
}

#[tokio::test]
async fn removing_a_member_revokes_their_keys_and_adding_them_back_revives_none() {
    let t = tenants().await;
    let app = &t.app;

    let removed = api(app, &t.alice_key, "DELETE", DAVE, None).await;
    assert_eq!(
        removed.status(),
        204,
        "{}",
        removed.text().await.unwrap_or_default()
    );
    denied_within_a_second(app, &t.dave_key).await;
    // The platform adds him back directly (a tenant would invite him).
    let admin = app.admin_key().await.to_owned();
    let back = api(app, &admin, "PUT", DAVE, Some(json!({ "role": "member" }))).await;
    assert_eq!(back.status(), 200);

    let listed: Value = api(app, &t.alice_key, "GET", KEYS, None)
        .await
        .json()
        .await
        .expect("keys");
    let dave_prefix = prefix(&t.dave_key);
    let key = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|k| k["prefix"] == dave_prefix)
        .expect("dave's key is still listed");
    assert!(
        key["revoked_at"].is_string(),
        "re-adding revived nothing: {key}"
    );
    let me = api(app, &t.dave_key, "GET", "/api/v1/iam/me", None).await;
    assert_eq!(me.status(), 401);
    let revoked = audited(app, "platform.api_key.revoked").await;
    let event = revoked
        .iter()
        .find(|e| e["target_id"] == dave_prefix)
        .expect("the revocation is audited");
    assert_eq!(event["details"]["reason"], "membership removed");
}

#[tokio::test]
async fn a_developer_cannot_end_the_owners_key_while_an_admin_may_end_a_members() {
    let t = tenants().await;
    let app = &t.app;
    let revoke = |prefix: &str| format!("{KEYS}/{prefix}/revoke");

    let owners = api(
        app,
        &t.dave_key,
        "POST",
        &revoke(prefix(&t.alice_key)),
        None,
    )
    .await;
    let rotated = api(
        app,
        &t.dave_key,
        "POST",
        &format!("{KEYS}/{}/rotate", prefix(&t.alice_key)),
        Some(json!({})),
    )
    .await;
    let by_admin = api(
        app,
        &t.carol_key,
        "POST",
        &revoke(prefix(&t.dave_key)),
        None,
    )
    .await;

    assert_eq!(
        owners.status(),
        403,
        "a developer cannot end the owner's key"
    );
    assert_eq!(rotated.status(), 403, "nor rotate it away");
    let me = api(app, &t.alice_key, "GET", "/api/v1/iam/me", None).await;
    assert_eq!(me.status(), 200, "the owner's key still works");
    assert_eq!(
        by_admin.status(),
        200,
        "an organization admin may end a member's key"
    );
    let ended: Value = by_admin.json().await.expect("key");
    assert!(ended["revoked_at"].is_string());
    let own = api(
        app,
        &t.carol_key,
        "POST",
        &revoke(prefix(&t.carol_key)),
        None,
    )
    .await;
    assert_eq!(own.status(), 200, "anyone may end their own key");
}
