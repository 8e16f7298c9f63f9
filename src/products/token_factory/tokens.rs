//! Token counts with OpenAI's `cl100k_base` encoding (tiktoken-rs): input is counted before
//! forwarding (the guard and the reservation), output when the request finishes. The
//! output count is billed only where an upstream reports no usage; where it does, the
//! count is kept beside the report for the view that compares them. The encoding loads on
//! first use, so an idle server does not hold it.

use tiktoken_rs::cl100k_base_singleton;

use super::offload;

/// Tokens in `text`.
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    cl100k_base_singleton().encode_ordinary(text).len() as u64
}

/// Tokens in every text of `texts`, summed; large inputs are counted off the HTTP workers.
pub async fn count_all(texts: Vec<String>) -> u64 {
    count_each(texts).await.iter().sum()
}

/// Tokens in each text of `texts`, in order; large inputs are counted off the HTTP workers.
pub async fn count_each(texts: Vec<String>) -> Vec<u64> {
    let bytes: Vec<usize> = texts.iter().map(String::len).collect();
    let total = bytes.iter().sum();
    let each = move || texts.iter().map(|t| count(t)).collect::<Vec<u64>>();
    // Should a count be lost, count by bytes, which never undercounts by more than a BPE
    // token's length.
    offload::sized(total, each, || {
        bytes.into_iter().map(|b| b as u64).collect()
    })
    .await
}

/// What a chat prompt costs beyond its texts: per OpenAI's counting guide, 3 tokens per
/// message, 1 per `name`, and 3 that prime the reply.
pub fn chat_overhead(messages: u64, names: u64) -> u64 {
    messages * 3 + names + 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_cl100k_encoding() {
        // "hello world" is two tokens in cl100k_base; the empty text none.
        assert_eq!(count("hello world"), 2);
        assert_eq!(count(""), 0);
        assert!(count("The quick brown fox jumps over the lazy dog.") >= 9);
    }
}
