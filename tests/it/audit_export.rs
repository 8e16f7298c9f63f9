//! An export verifies offline with the public key alone: this file re-implements the
//! documented encoding (README "Verifying an audit export") without the server's code.

use std::path::Path;
use std::process::Command;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{TestDb, platform_for};

const FIELDS: [&str; 21] = [
    "seq",
    "id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_role",
    "on_behalf_of",
    "organization_id",
    "department_id",
    "project_id",
    "action",
    "target_type",
    "target_id",
    "result",
    "reason",
    "correlation_id",
    "client_ip",
    "user_agent",
    "details",
    "retention_class",
    "prev_hash",
];

/// Sorted keys, no whitespace.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        scalar => scalar.to_string(),
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn lines(path: &Path) -> Result<Vec<Value>, String> {
    std::fs::read_to_string(path)
        .map_err(|e| e.to_string())?
        .lines()
        .map(|line| serde_json::from_str(line).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

/// Checks every hash and link, then every digest's anchor and signature.
fn verify_offline(dir: &Path) -> Result<usize, String> {
    let events = lines(&dir.join("events.jsonl"))?;
    let digests = lines(&dir.join("digests.jsonl"))?;
    let key: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("public-key.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let mut hashes = std::collections::HashMap::new();
    let mut prev: Option<String> = None;
    for event in &events {
        let fields: Vec<Value> = FIELDS.iter().map(|f| event[*f].clone()).collect();
        let hash = sha256_hex(&format!(
            "aicloud-audit-v1\n{}",
            canonical(&Value::Array(fields))
        ));
        if event["hash"] != hash.as_str() {
            return Err(format!("seq {}: hash mismatch", event["seq"]));
        }
        if let Some(prev) = &prev
            && event["prev_hash"] != prev.as_str()
        {
            return Err(format!("seq {}: broken link", event["seq"]));
        }
        prev = Some(hash.clone());
        hashes.insert(event["seq"].as_i64().unwrap_or_default(), hash);
    }
    let public: [u8; 32] = unhex(key["public_key"].as_str().ok_or("no public key")?)?
        .try_into()
        .map_err(|_| "key length")?;
    let public = VerifyingKey::from_bytes(&public).map_err(|e| e.to_string())?;
    for digest in &digests {
        let seq_to = digest["seq_to"].as_i64().ok_or("seq_to")?;
        if hashes.get(&seq_to).map(String::as_str) != digest["last_hash"].as_str() {
            return Err(format!(
                "digest {}: last_hash does not match seq {seq_to}",
                digest["number"]
            ));
        }
        let payload: Value = [
            "number",
            "seq_from",
            "seq_to",
            "last_hash",
            "prev_signature",
            "key_id",
            "created_at",
        ]
        .iter()
        .map(|k| ((*k).to_owned(), digest[*k].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
        let message = format!("aicloud-audit-digest-v1\n{}", canonical(&payload));
        let signature: [u8; 64] = unhex(digest["signature"].as_str().ok_or("signature")?)?
            .try_into()
            .map_err(|_| "signature length")?;
        public
            .verify(message.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| format!("digest {}: bad signature", digest["number"]))?;
    }
    if digests.is_empty() {
        return Err("no digest covers the export".into());
    }
    Ok(events.len())
}

#[tokio::test]
async fn an_export_verifies_offline_and_fails_after_one_byte_changes() {
    let key = aicloud::platform::audit::signing::generate().expect("key");
    let db = TestDb::create();
    let platform = platform_for(&db, &[("AICLOUD__AUDIT__SIGNING_KEY", &key)]).await;
    let events = (0..10)
        .map(|n| {
            let mut e = aicloud::platform::audit::NewEvent::new(
                aicloud::platform::audit::Actor::system("test"),
                "platform.api_key.issued",
                "api_key",
                &format!("key-{n}"),
            );
            e.details = serde_json::json!({ "scopes": ["a", "b"], "n": n, "nested": { "z": 1, "a": [true, null] } });
            e
        })
        .collect();
    platform.audit.append_batch(events).await.expect("appended");
    let dir = std::env::temp_dir().join(format!("audit-export-{}", uuid::Uuid::now_v7()));

    let out = Command::new(env!("CARGO_BIN_EXE_aicloud"))
        .args(["audit", "export", "--out", dir.to_str().expect("utf-8")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("DATABASE_OWNER_URL", &db.owner_url)
        .env("AICLOUD__AUDIT__SIGNING_KEY", &key)
        .output()
        .expect("aicloud runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(
        verify_offline(&dir),
        Ok(11),
        "the onboarding event and ten appended"
    );
    let path = dir.join("events.jsonl");
    let text = std::fs::read_to_string(&path).expect("events");
    let at = text.find("key-7").expect("an event to alter") + 4;
    let mut bytes = text.into_bytes();
    bytes[at] = b'8';
    std::fs::write(&path, bytes).expect("altered");
    let err = verify_offline(&dir).expect_err("one changed byte is caught");
    assert!(err.contains("hash mismatch"), "{err}");
}
