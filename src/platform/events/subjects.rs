//! Subject patterns, NATS style: tokens split on `.`, `*` matches one token, a final `>`
//! matches one or more.

/// Whether `subject` matches `pattern`.
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject_tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (literal, Some(actual)) if literal == actual => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

/// Whether `pattern` is well formed: non-empty tokens, `>` only last.
pub fn is_pattern(pattern: &str) -> bool {
    let tokens: Vec<&str> = pattern.split('.').collect();
    tokens
        .iter()
        .enumerate()
        .all(|(i, t)| !t.is_empty() && (*t != ">" || i == tokens.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_one_token_and_gt_the_rest() {
        assert!(matches(
            "platform.billing.*",
            "platform.billing.balance_low"
        ));
        assert!(!matches(
            "platform.billing.*",
            "platform.billing.balance.low"
        ));
        assert!(matches("platform.>", "platform.billing.balance.low"));
        assert!(!matches("platform.>", "platform"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(!matches("a.b.c", "a.b"));
    }

    #[test]
    fn gt_only_at_the_end() {
        assert!(is_pattern("a.>"));
        assert!(!is_pattern("a.>.b"));
        assert!(!is_pattern("a..b"));
    }
}
