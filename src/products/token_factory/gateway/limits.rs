//! `x-ratelimit-limit|remaining|reset-requests` and `-tokens`, from the decision's own
//! figures for the tightest ceiling of each rate (absent when the rate has no ceiling).

use actix_web::HttpResponseBuilder;

use super::admit::{RPM, TPM};
use crate::platform::policy::Decision;
use crate::products::token_factory::wire::OpenAiError;

/// The headers of one decision.
#[derive(Debug, Clone, Default)]
pub struct RateHeaders {
    headers: Vec<(&'static str, String)>,
}

impl RateHeaders {
    /// The headers `decision` gives.
    pub fn of(decision: &Decision) -> RateHeaders {
        let mut headers = Vec::new();
        for (dimension, suffix) in [(RPM, "requests"), (TPM, "tokens")] {
            let Some(state) = decision.limits.iter().find(|l| &*l.dimension == dimension) else {
                continue;
            };
            let Some(limit) = state.ceiling.amount() else {
                continue;
            };
            headers.push((limit_name(suffix), limit.to_string()));
            headers.push((
                remaining_name(suffix),
                state.remaining.unwrap_or(0).to_string(),
            ));
            headers.push((
                reset_name(suffix),
                duration(state.reset_after_ms.unwrap_or(0)),
            ));
        }
        RateHeaders { headers }
    }

    /// Adds them to a response.
    pub fn add_to(&self, res: &mut HttpResponseBuilder) {
        for (name, value) in &self.headers {
            res.insert_header((*name, value.as_str()));
        }
    }

    /// Adds them to an error.
    pub fn apply(&self, mut err: OpenAiError) -> OpenAiError {
        for (name, value) in &self.headers {
            err = err.with_header(name, value);
        }
        err
    }
}

fn limit_name(suffix: &str) -> &'static str {
    match suffix {
        "requests" => "x-ratelimit-limit-requests",
        _ => "x-ratelimit-limit-tokens",
    }
}

fn remaining_name(suffix: &str) -> &'static str {
    match suffix {
        "requests" => "x-ratelimit-remaining-requests",
        _ => "x-ratelimit-remaining-tokens",
    }
}

fn reset_name(suffix: &str) -> &'static str {
    match suffix {
        "requests" => "x-ratelimit-reset-requests",
        _ => "x-ratelimit-reset-tokens",
    }
}

/// A duration as OpenAI writes it: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let seconds = match rest % 1000 {
        0 => format!("{}s", rest / 1000),
        frac => format!(
            "{}.{}s",
            rest / 1000,
            format!("{frac:03}").trim_end_matches('0')
        ),
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_as_openai_writes_them() {
        assert_eq!(duration(20), "20ms");
        assert_eq!(duration(1000), "1s");
        assert_eq!(duration(1500), "1.5s");
        assert_eq!(duration(17_280), "17.28s");
        assert_eq!(duration(360_000), "6m0s");
        assert_eq!(duration(3_723_000), "1h2m3s");
    }
}
