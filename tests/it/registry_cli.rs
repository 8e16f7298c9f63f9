//! `aicloud product ...` as an administrator runs it.

use std::process::Output;

use crate::helpers::{TestDb, aicloud, edited, packet};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn temp_packet(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("packet-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&path, text).expect("temp packet written");
    path
}

#[test]
fn review_of_the_shipped_packets_together_passes() {
    let db = TestDb::create();

    let out = aicloud(
        &db,
        &[
            "product",
            "review",
            "config/products/platform.toml",
            "config/products/token-factory.toml",
            "config/products/vector-store.toml",
        ],
    );

    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("Verdict: ready").count(), 3);
}

#[test]
fn review_exits_non_zero_naming_a_removed_category() {
    let db = TestDb::create();
    let path = temp_packet(&edited(&packet("token-factory"), |t| {
        t.remove("policy");
    }));

    let out = aicloud(
        &db,
        &[
            "product",
            "review",
            "config/products/platform.toml",
            path.to_str().expect("utf-8"),
        ],
    );

    assert!(!out.status.success());
    let printed = text(&out);
    assert!(
        printed.contains("[   MISSING    ] Policy and quota"),
        "{printed}"
    );
    assert!(
        printed.contains("missing: [policy] (the whole section)"),
        "{printed}"
    );
}

#[test]
fn onboard_twice_reports_unchanged_and_list_shows_the_product() {
    let db = TestDb::create();

    let first = aicloud(
        &db,
        &["product", "onboard", "config/products/platform.toml"],
    );
    let second = aicloud(
        &db,
        &["product", "onboard", "config/products/platform.toml"],
    );
    let list = aicloud(&db, &["product", "list", "--json"]);

    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("revision 1 (first)"),
        "{}",
        text(&first)
    );
    assert!(
        text(&second).contains("unchanged (revision 1, nothing written)"),
        "{}",
        text(&second)
    );
    let products: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json list");
    assert_eq!(products[0]["slug"], "platform");
}

#[test]
fn malformed_packet_file_is_refused_with_file_line_and_column() {
    let db = TestDb::create();
    let path = temp_packet("[product]\nid = \"demo\"\nslug = 'a\n");

    let out = aicloud(&db, &["product", "onboard", path.to_str().expect("utf-8")]);

    assert!(!out.status.success());
    let printed = text(&out);
    assert!(
        printed.contains(&format!("{}:3:", path.display())),
        "{printed}"
    );
}
