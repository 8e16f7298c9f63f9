//! The usage chart on an organization's billing page, drawn by charts-rs as SVG: one bar
//! series per resource (model), one bar per day. Display only: amounts become `f32` here
//! and nowhere else.

use rust_decimal::prelude::ToPrimitive;
use time::Date;

use super::DailyUsage;

/// Most series drawn; the rest are summed as "other", so the legend stays readable.
const MAX_SERIES: usize = 6;

/// The last `days` days up to `today`, charged per resource per day, in minor units.
pub fn daily_usage(
    usage: &[DailyUsage],
    today: Date,
    days: u16,
) -> Result<String, charts_rs::Error> {
    let dates: Vec<Date> = (0..i64::from(days))
        .rev()
        .filter_map(|back| today.checked_sub(time::Duration::days(back)))
        .collect();
    let keys: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
    let labels: Vec<String> = keys.iter().map(|k| k[5..].to_owned()).collect();
    let mut names: Vec<String> = Vec::new();
    for u in usage {
        if !names.contains(&u.resource_id) {
            names.push(u.resource_id.clone());
        }
    }
    let shown = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .is_some_and(|i| i < MAX_SERIES)
    };
    let mut series: Vec<(String, Vec<f32>)> = names
        .iter()
        .take(MAX_SERIES)
        .map(|n| (n.clone(), vec![0.0; keys.len()]))
        .collect();
    if names.len() > MAX_SERIES {
        series.push(("other".into(), vec![0.0; keys.len()]));
    }
    for u in usage {
        let Some(day) = keys.iter().position(|k| *k == u.day) else {
            continue;
        };
        let index = match shown(&u.resource_id) {
            true => names.iter().position(|n| *n == u.resource_id).unwrap_or(0),
            false => series.len() - 1,
        };
        series[index].1[day] += u.amount_minor.to_f32().unwrap_or(0.0);
    }
    if series.is_empty() {
        series.push(("no usage".into(), vec![0.0; keys.len()]));
    }
    let list = series
        .iter()
        .map(|(name, values)| (name.as_str(), values.clone()).into())
        .collect();
    let chart = charts_rs::BarChart::new(list, labels);
    chart.svg()
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn each_resource_is_a_series_and_each_day_a_bar() {
        let usage = vec![
            DailyUsage {
                day: "2026-11-30".into(),
                resource_id: "big".into(),
                amount_minor: "12.5".parse().expect("decimal"),
            },
            DailyUsage {
                day: "2026-12-01".into(),
                resource_id: "small".into(),
                amount_minor: "3".parse().expect("decimal"),
            },
        ];
        let svg = daily_usage(&usage, date!(2026 - 12 - 01), 7).expect("svg");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        for text in ["big", "small", "11-30", "12-01"] {
            assert!(svg.contains(text), "the chart names {text}");
        }
    }
}
