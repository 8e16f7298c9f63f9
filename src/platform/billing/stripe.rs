//! Stripe's webhook signature, as its documentation and its own libraries define it.
//!
//! A delivery carries `Stripe-Signature: t=TIMESTAMP,v1=HEX[,v1=HEX...][,v0=...]`: `t` is
//! the Unix second it was signed, each `v1` an HMAC-SHA256, in lowercase hex, of
//! `"{t}.{raw body}"` keyed with the endpoint's signing secret (the whole `whsec_...`
//! string, as bytes). Several `v1` appear while a secret is being rolled; one matching is
//! enough. Other schemes (`v0`, test-mode extras) and unknown keys are ignored, as Stripe's
//! libraries do. A signature is only as good as its freshness: a `t` further from now than
//! the tolerance, either way, is refused, so a captured delivery cannot be replayed later
//! (a replay inside the window is a duplicate event id, which billing answers as a no-op).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest header accepted: a timestamp and a handful of signatures fit many times over.
const MAX_HEADER_BYTES: usize = 2048;
/// Digits of a Unix timestamp in seconds (until the year 33658).
const MAX_TIMESTAMP_DIGITS: usize = 12;
/// The scheme Stripe signs with today.
const SCHEME: &str = "v1";

/// Why a delivery's signature was refused. The text goes to the sender: it never holds
/// the secret or the signature that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Stripe-Signature` header (or an empty one).
    #[error("the Stripe-Signature header is missing")]
    Missing,
    /// The header is not `t=...,v1=...`.
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    /// No `v1` signature matches the body.
    #[error("no v1 signature in the Stripe-Signature header matches the body")]
    NoMatch,
    /// Signed longer ago than the tolerance.
    #[error("the signature's timestamp is {0} s old, more than the tolerance allows")]
    Stale(i64),
    /// Signed later than now by more than the tolerance.
    #[error("the signature's timestamp is {0} s in the future, more than the tolerance allows")]
    Future(i64),
}

/// A parsed `Stripe-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// When it was signed, in Unix seconds.
    pub timestamp: i64,
    /// Each `v1` signature that is 32 bytes of hex; others are skipped, like unknown keys.
    pub signatures: Vec<Vec<u8>>,
}

/// Parses a header's bytes.
pub fn parse(header: &[u8]) -> Result<SignatureHeader, Refusal> {
    if header.is_empty() {
        return Err(Refusal::Missing);
    }
    if header.len() > MAX_HEADER_BYTES {
        return Err(Refusal::Malformed("longer than 2048 bytes"));
    }
    let text = std::str::from_utf8(header)
        .ok()
        .filter(|t| t.chars().all(|c| c.is_ascii_graphic()))
        .ok_or(Refusal::Malformed(
            "holds characters other than visible ASCII",
        ))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for pair in text.split(',') {
        let (key, value) = pair
            .split_once('=')
            .ok_or(Refusal::Malformed("every item must be key=value"))?;
        match key {
            "t" if timestamp.is_some() => return Err(Refusal::Malformed("`t` appears twice")),
            "t" => timestamp = Some(parse_timestamp(value)?),
            SCHEME => signatures.extend(decode_signature(value)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Refusal::Malformed("no `t` timestamp"))?;
    if signatures.is_empty() {
        return Err(Refusal::Malformed("no v1 signature"));
    }
    Ok(SignatureHeader {
        timestamp,
        signatures,
    })
}

/// Unsigned decimal digits only: `str::parse` would also take a sign.
fn parse_timestamp(value: &str) -> Result<i64, Refusal> {
    let digits = !value.is_empty()
        && value.len() <= MAX_TIMESTAMP_DIGITS
        && value.bytes().all(|b| b.is_ascii_digit());
    match digits {
        true => value
            .parse()
            .map_err(|_| Refusal::Malformed("`t` is not a Unix time")),
        false => Err(Refusal::Malformed("`t` is not a Unix time")),
    }
}

/// A signature of the right length, or nothing (skipped, as Stripe's libraries skip one
/// that does not decode).
fn decode_signature(value: &str) -> Option<Vec<u8>> {
    hex::decode(value).ok().filter(|bytes| bytes.len() == 32)
}

/// The `v1` signature of `body` signed at `timestamp` with `secret`, in lowercase hex: what
/// Stripe sends (tests sign with it too).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(signed(secret, timestamp, body).finalize().into_bytes())
}

fn signed(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks a delivery: its header (`None` when absent) must carry a `v1` signature of
/// `body` with `secret`, compared in constant time, made within `tolerance_secs` of `now`
/// (Unix seconds).
pub fn verify(
    secret: &[u8],
    header: Option<&[u8]>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), Refusal> {
    let header = parse(header.ok_or(Refusal::Missing)?)?;
    let mac = signed(secret, header.timestamp, body);
    // `verify_slice` compares in constant time; each candidate gets its own copy of the
    // keyed state, so the body is hashed once.
    let matched = header
        .signatures
        .iter()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if !matched {
        return Err(Refusal::NoMatch);
    }
    let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    let age = now.saturating_sub(header.timestamp);
    if age > tolerance {
        return Err(Refusal::Stale(age));
    }
    if -age > tolerance {
        return Err(Refusal::Future(-age));
    }
    Ok(())
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    const NOW: i64 = 1_800_000_000;

    fn header(t: i64, body: &[u8]) -> String {
        format!("t={t},v1={}", sign(SECRET, t, body))
    }

    fn check(header: &str, body: &[u8]) -> Result<(), Refusal> {
        verify(SECRET, Some(header.as_bytes()), body, NOW, 300)
    }

    #[test]
    fn a_signature_matches_what_stripes_libraries_compute() {
        // HMAC-SHA256("whsec_test_secret", "1800000000.{body}"), computed independently
        // (Python's hmac module), so the signed payload's layout is pinned, not just
        // round-tripped.
        assert_eq!(
            sign(SECRET, NOW, BODY),
            "a5e7a4e212d19ae228f9bbfe2fd930bb48cd47c3dc118985dcb4103da864e05f"
        );
    }

    #[test]
    fn the_header_parses_with_several_signatures_and_other_schemes() {
        let sig = sign(SECRET, NOW, BODY);
        let raw = format!("t={NOW},v1={sig},v0=abc,v1=nothex,x=y,v1={sig}");

        let parsed = parse(raw.as_bytes()).expect("parses");

        assert_eq!(parsed.timestamp, NOW);
        assert_eq!(parsed.signatures.len(), 2, "the undecodable v1 is skipped");
    }

    #[test]
    fn malformed_headers_are_refused_with_what_is_wrong() {
        let sig = sign(SECRET, NOW, BODY);
        for (raw, why) in [
            (format!("v1={sig}"), "no `t` timestamp"),
            (format!("t={NOW}"), "no v1 signature"),
            (format!("t={NOW},v0={sig}"), "no v1 signature"),
            (format!("t=+{NOW},v1={sig}"), "`t` is not a Unix time"),
            (format!("t=-1,v1={sig}"), "`t` is not a Unix time"),
            (format!("t=,v1={sig}"), "`t` is not a Unix time"),
            (format!("t=1{NOW}000,v1={sig}"), "`t` is not a Unix time"),
            (format!("t={NOW},t={NOW},v1={sig}"), "`t` appears twice"),
            (format!("t{NOW},v1={sig}"), "every item must be key=value"),
            (
                format!("t={NOW}, v1={sig}"),
                "holds characters other than visible ASCII",
            ),
            (
                format!("t={NOW},v1={sig}\u{0}"),
                "holds characters other than visible ASCII",
            ),
            (
                "t=1,v1=".to_owned() + &"a".repeat(3000),
                "longer than 2048 bytes",
            ),
        ] {
            assert_eq!(parse(raw.as_bytes()), Err(Refusal::Malformed(why)), "{raw}");
        }
        assert_eq!(parse(b""), Err(Refusal::Missing));
        assert_eq!(
            parse(&[0xff, 0xfe]),
            Err(Refusal::Malformed(
                "holds characters other than visible ASCII"
            ))
        );
        assert_eq!(verify(SECRET, None, BODY, NOW, 300), Err(Refusal::Missing));
    }

    #[test]
    fn a_good_signature_within_the_tolerance_verifies() {
        assert_eq!(check(&header(NOW, BODY), BODY), Ok(()));
        assert_eq!(check(&header(NOW - 300, BODY), BODY), Ok(()));
        assert_eq!(check(&header(NOW + 300, BODY), BODY), Ok(()));
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let old = sign(b"whsec_rolled_away", NOW, BODY);
        let raw = format!("t={NOW},v1={old},v1={}", sign(SECRET, NOW, BODY));
        assert_eq!(check(&raw, BODY), Ok(()));
    }

    #[test]
    fn a_tampered_body_does_not_verify() {
        let tampered = br#"{"id":"evt_1","type":"checkout.session.completed "}"#;
        assert_eq!(check(&header(NOW, BODY), tampered), Err(Refusal::NoMatch));
    }

    #[test]
    fn another_secrets_signature_does_not_verify() {
        let raw = format!("t={NOW},v1={}", sign(b"whsec_someone_else", NOW, BODY));
        assert_eq!(check(&raw, BODY), Err(Refusal::NoMatch));
    }

    #[test]
    fn a_signature_for_another_timestamp_does_not_verify() {
        // The timestamp is signed too: moving it forward to look fresh breaks the signature.
        let raw = format!("t={NOW},v1={}", sign(SECRET, NOW - 3600, BODY));
        assert_eq!(check(&raw, BODY), Err(Refusal::NoMatch));
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused_even_when_signed() {
        assert_eq!(
            check(&header(NOW - 301, BODY), BODY),
            Err(Refusal::Stale(301))
        );
        assert_eq!(
            check(&header(NOW + 301, BODY), BODY),
            Err(Refusal::Future(301))
        );
        assert_eq!(check(&header(0, BODY), BODY), Err(Refusal::Stale(NOW)));
    }

    #[test]
    fn the_refusal_never_shows_the_expected_signature() {
        let expected = sign(SECRET, NOW, BODY);
        let wrong = format!("t={NOW},v1={}", "0".repeat(64));
        let text = check(&wrong, BODY).expect_err("refused").to_string();
        assert!(!text.contains(&expected), "{text}");
    }
}
