//! Bar charts of a quantity per day and series (a model, say), drawn by charts-rs as SVG
//! and served as images, so pages need no inline styles. Display only: values are `f32`
//! here and nowhere else.

use time::Date;

/// Most series drawn; the rest are summed as "other", so the legend stays readable.
const MAX_SERIES: usize = 6;

/// One day's value of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyPoint {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The series it belongs to.
    pub series: String,
    /// How much.
    pub value: f32,
}

/// Bars for the last `days` days up to `today`, one series per name (the first six, the
/// rest as "other"), in the order names first appear.
pub fn daily_bars(
    points: &[DailyPoint],
    today: Date,
    days: u16,
) -> Result<String, charts_rs::Error> {
    let dates: Vec<Date> = (0..i64::from(days))
        .rev()
        .filter_map(|back| today.checked_sub(time::Duration::days(back)))
        .collect();
    let keys: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
    let labels: Vec<String> = keys.iter().map(|k| k[5..].to_owned()).collect();
    let mut names: Vec<&str> = Vec::new();
    for p in points {
        if !names.contains(&p.series.as_str()) {
            names.push(&p.series);
        }
    }
    let mut series: Vec<(String, Vec<f32>)> = names
        .iter()
        .take(MAX_SERIES)
        .map(|n| ((*n).to_owned(), vec![0.0; keys.len()]))
        .collect();
    if names.len() > MAX_SERIES {
        series.push(("other".into(), vec![0.0; keys.len()]));
    }
    for p in points {
        let Some(day) = keys.iter().position(|k| *k == p.day) else {
            continue;
        };
        let index = names
            .iter()
            .position(|n| *n == p.series)
            .filter(|i| *i < MAX_SERIES)
            .unwrap_or(series.len() - 1);
        series[index].1[day] += p.value;
    }
    if series.is_empty() {
        series.push(("none".into(), vec![0.0; keys.len()]));
    }
    let list = series
        .iter()
        .map(|(name, values)| (name.as_str(), values.clone()).into())
        .collect();
    charts_rs::BarChart::new(list, labels).svg()
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;
    use time::macros::date;

    fn point(day: &str, series: &str, value: f32) -> DailyPoint {
        DailyPoint {
            day: day.into(),
            series: series.into(),
            value,
        }
    }

    #[test]
    fn each_series_is_named_and_each_day_a_bar() {
        let points = vec![
            point("2026-11-30", "big", 12.5),
            point("2026-12-01", "small", 3.0),
        ];
        let svg = daily_bars(&points, date!(2026 - 12 - 01), 7).expect("svg");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        for text in ["big", "small", "11-30", "12-01"] {
            assert!(svg.contains(text), "the chart names {text}");
        }
    }

    #[test]
    fn series_past_the_sixth_are_summed_as_other() {
        let points: Vec<DailyPoint> = (0..8)
            .map(|i| point("2026-12-01", &format!("m{i}"), 1.0))
            .collect();
        let svg = daily_bars(&points, date!(2026 - 12 - 01), 3).expect("svg");
        assert!(svg.contains("other") && svg.contains("m5") && !svg.contains("m6"));
    }
}
