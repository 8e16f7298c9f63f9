//! The load generator's side of the gateway bench: one oha run (`run`), and a comparison
//! of a target with the direct baseline (`compare`).
//!
//! On two shared cores the baseline itself moves between runs (direct p50 from 0.14 to
//! 0.84 ms within one session), so a target measured once against a baseline measured
//! minutes earlier mostly measures the machine. A comparison alternates the two, one load
//! each per round, and reports the median over rounds of each round's difference (or
//! ratio), with the smallest and largest, so the spread is on the page beside the figure.

use std::process::Command;

use serde_json::Value as Json;

/// Seconds each load runs.
pub const SECONDS: u64 = 5;
/// Rounds of a comparison: in each, the baseline and then the target at 1,000/s, then both
/// at concurrency 64.
pub const ROUNDS: usize = 3;
/// The fixed rate of the latency loads, requests/s.
const RATE: u32 = 1000;

/// What one oha run measured: requests/s, p50 and p99 latency (ms), success rate.
#[derive(Clone, Copy)]
pub struct Load {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub ok: f64,
}

/// Where a load is sent: a base URL (`…/v1`) and the key, if it needs one.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub url: &'a str,
    pub key: Option<&'a str>,
}

/// The median of a figure over rounds, with its smallest and largest.
pub struct Spread {
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

impl Spread {
    /// The median of `values` (one a round, at least one), with its smallest and largest.
    pub fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        Spread {
            median: values[values.len() / 2],
            low: values[0],
            high: values[values.len() - 1],
        }
    }
}

/// What `compare` found, each figure over `ROUNDS` rounds.
pub struct Comparison {
    /// The baseline's and the target's p50 and p99 at 1,000/s, and requests/s at
    /// concurrency 64, as medians (the success rate is the lowest round's).
    pub direct: Load,
    pub rate: Load,
    pub max: Load,
    /// What the target added to the baseline's p50 and p99 in the same round.
    pub added_p50: Spread,
    pub added_p99: Spread,
    /// The target's requests/s at concurrency 64 over the baseline's in the same round.
    pub ratio: Spread,
    /// Requests the target served at concurrency 64 in all rounds.
    pub served_max: f64,
}

/// Alternates `direct` and `target`, one load each per round; `around_max` is called
/// before (`true`) and after (`false`) each of the target's loads at concurrency 64, so the
/// caller can count what they cost.
pub fn compare(
    direct: Target<'_>,
    target: Target<'_>,
    around_max: &mut dyn FnMut(bool),
) -> Comparison {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let (direct_rate, rate) = (run(direct, Some(RATE)), run(target, Some(RATE)));
        let direct_max = run(direct, None);
        around_max(true);
        let max = run(target, None);
        around_max(false);
        rounds.push(Round {
            direct_rate,
            rate,
            direct_max,
            max,
        });
    }
    let spread = |f: &dyn Fn(&Round) -> f64| Spread::of(rounds.iter().map(f).collect());
    let median = |load: fn(&Round) -> &Load| Load {
        rps: spread(&|r| load(r).rps).median,
        p50: spread(&|r| load(r).p50).median,
        p99: spread(&|r| load(r).p99).median,
        ok: spread(&|r| load(r).ok).low,
    };
    Comparison {
        direct: Load {
            rps: median(|r| &r.direct_max).rps,
            ..median(|r| &r.direct_rate)
        },
        rate: median(|r| &r.rate),
        max: median(|r| &r.max),
        added_p50: spread(&|r| r.rate.p50 - r.direct_rate.p50),
        added_p99: spread(&|r| r.rate.p99 - r.direct_rate.p99),
        ratio: spread(&|r| r.max.rps / r.direct_max.rps),
        served_max: rounds.iter().map(|r| r.max.rps * SECONDS as f64).sum(),
    }
}

/// One round's four loads: the baseline and the target at 1,000/s, then at concurrency 64.
struct Round {
    direct_rate: Load,
    rate: Load,
    direct_max: Load,
    max: Load,
}

impl Comparison {
    /// The target's line at 1,000/s: its medians, what it added, and the rounds' spread.
    pub fn at_rate(&self) -> String {
        let (p50, p99) = (&self.added_p50, &self.added_p99);
        format!(
            "p50 {:.3} ms (+{:.3}; rounds {:+.3} to {:+.3}), p99 {:.3} ms (+{:.3}; rounds {:+.3} to {:+.3}), {:.1} % ok",
            self.rate.p50,
            p50.median,
            p50.low,
            p50.high,
            self.rate.p99,
            p99.median,
            p99.low,
            p99.high,
            self.rate.ok * 100.0
        )
    }

    /// The target's line at concurrency 64.
    pub fn at_max(&self) -> String {
        let ratio = &self.ratio;
        format!(
            "{:.0}/s = {:.0} % of direct (rounds {:.0} to {:.0} %), {:.1} % ok",
            self.max.rps,
            ratio.median * 100.0,
            ratio.low * 100.0,
            ratio.high * 100.0,
            self.max.ok * 100.0
        )
    }
}

fn oha() -> String {
    std::env::var("OHA").unwrap_or_else(|_| ".data/tools/bin/oha".into())
}

/// One oha run of `SECONDS` at concurrency 64, at `rate` requests/s if given.
pub fn run(target: Target<'_>, rate: Option<u32>) -> Load {
    let mut command = Command::new(oha());
    command
        .args(["--no-tui", "--output-format", "json"])
        .args(["-z", &format!("{SECONDS}s"), "-c", "64"])
        .args(["-m", "POST", "-H", "content-type: application/json"])
        .args(["-d", &super::body()]);
    if let Some(rate) = rate {
        command.args(["-q", &rate.to_string(), "--latency-correction"]);
    }
    if let Some(key) = target.key {
        command.args(["-H", &format!("authorization: Bearer {key}")]);
    }
    let out = command
        .arg(format!("{}/chat/completions", target.url))
        .output()
        .expect("oha runs (make bench installs it)");
    let report: Json = serde_json::from_slice(&out.stdout).expect("oha's JSON report");
    let summary = &report["summary"];
    let ms = |p: &str| report["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1000.0;
    Load {
        rps: summary["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50: ms("p50"),
        p99: ms("p99"),
        ok: summary["successRate"].as_f64().unwrap_or(0.0),
    }
}
