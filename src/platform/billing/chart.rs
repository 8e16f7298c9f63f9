//! The usage chart on an organization's billing page: charged per day and resource (model),
//! drawn by the portal's daily bar chart.

use rust_decimal::prelude::ToPrimitive;
use time::Date;

use super::DailyUsage;
use crate::kit::portal::chart::{DailyPoint, daily_bars};

/// The last `days` days up to `today`, charged per resource per day, in minor units.
pub fn daily_usage(
    usage: &[DailyUsage],
    today: Date,
    days: u16,
) -> Result<String, charts_rs::Error> {
    let points: Vec<DailyPoint> = usage
        .iter()
        .map(|u| DailyPoint {
            day: u.day.clone(),
            series: u.resource_id.clone(),
            value: u.amount_minor.to_f32().unwrap_or(0.0),
        })
        .collect();
    daily_bars(&points, today, days)
}
