//! People: bootstrap once, argon2 passwords, throttled sign-in, sessions that a password
//! change ends.

use aicloud::platform::audit::EventFilter;
use diesel::prelude::*;

use crate::helpers::{TestDb, platform_for};

#[tokio::test]
async fn bootstrap_makes_one_platform_admin_whose_password_signs_in() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;

    let first = crate::helpers::aicloud(
        &db,
        &["bootstrap", "--email", "Admin@Example.test", "--json"],
    );
    let second = crate::helpers::aicloud(&db, &["bootstrap", "--email", "other@example.test"]);

    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    let password = shown["password"].as_str().expect("one-time password");
    assert!(!second.status.success(), "bootstrap runs once");
    let signed = platform
        .people
        .sign_in("admin@example.test", password, "127.0.0.1")
        .await
        .expect("case-insensitive email");
    assert!(signed.user.is_platform_admin());
    let current = platform
        .people
        .session(&signed.token)
        .await
        .expect("looked up")
        .expect("live session");
    assert_eq!(current.user.id, signed.user.id);
    let mut conn = db.connect();
    let stored: Vec<String> = diesel::sql_query("SELECT password_hash || ' ' || (SELECT string_agg(token_sha256, ' ') FROM iam.sessions) AS s FROM iam.users")
        .load::<Stored>(&mut conn)
        .expect("dump")
        .into_iter()
        .map(|s| s.s)
        .collect();
    assert!(stored[0].starts_with("$argon2id$"), "argon2id hash");
    assert!(
        !stored[0].contains(password) && !stored[0].contains(&signed.token),
        "no secret stored"
    );
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::Text)]
    s: String,
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_address_and_audited_at_the_threshold() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    platform
        .people
        .create_user(
            &aicloud::platform::iam::Caller::Console("test".into()),
            "dev@example.test",
            "Dev",
            "correct horse battery",
        )
        .await
        .expect("user");

    for _ in 0..5 {
        let err = platform
            .people
            .sign_in("dev@example.test", "wrong password!!", "10.0.0.1")
            .await
            .expect_err("wrong");
        assert!(err.to_string().contains("email or password is wrong"));
    }
    let throttled = platform
        .people
        .sign_in("dev@example.test", "correct horse battery", "10.0.0.1")
        .await;
    let elsewhere = platform
        .people
        .sign_in("dev@example.test", "correct horse battery", "10.0.0.2")
        .await;
    let unknown = platform
        .people
        .sign_in("ghost@example.test", "whatever whatever", "10.0.0.3")
        .await;

    assert!(
        throttled
            .expect_err("throttled")
            .to_string()
            .contains("too many failed attempts from this address")
    );
    assert!(
        elsewhere.is_ok(),
        "the owner still signs in from another address"
    );
    assert!(
        unknown
            .expect_err("unknown")
            .to_string()
            .contains("email or password is wrong"),
        "no user enumeration"
    );
    let audited = platform
        .audit
        .query(EventFilter {
            action: Some("platform.sign_in.failures_repeated".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audited.events.len(), 1);
}

#[tokio::test]
async fn a_password_change_ends_other_sessions_and_short_passwords_are_refused() {
    let db = TestDb::create();
    let platform = platform_for(&db, &[]).await;
    platform
        .people
        .create_user(
            &aicloud::platform::iam::Caller::Console("test".into()),
            "dev@example.test",
            "Dev",
            "correct horse battery",
        )
        .await
        .expect("user");
    let signed = platform
        .people
        .sign_in("dev@example.test", "correct horse battery", "127.0.0.1")
        .await
        .expect("signed in");

    let changed = crate::helpers::aicloud_with_stdin(
        &db,
        &["user", "set-password", "dev@example.test"],
        "a brand new passphrase\n",
    );
    let short = crate::helpers::aicloud_with_stdin(
        &db,
        &["user", "set-password", "dev@example.test"],
        "short\n",
    );

    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    assert!(
        platform
            .people
            .session(&signed.token)
            .await
            .expect("looked up")
            .is_none(),
        "session ended"
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    assert!(
        platform
            .people
            .sign_in("dev@example.test", "a brand new passphrase", "127.0.0.1")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn bootstrap_if_absent_is_a_no_op_once_an_administrator_exists() {
    let db = TestDb::create();
    let _platform = platform_for(&db, &[]).await;

    let first = crate::helpers::aicloud(
        &db,
        &["bootstrap", "--if-absent", "--email", "admin@example.com"],
    );
    let again = crate::helpers::aicloud(
        &db,
        &["bootstrap", "--if-absent", "--email", "admin@example.com"],
    );

    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("one-time password"));
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists already"));
}
