//! What a refund names: its source, amount and reason, and the calendar months that
//! refunds and statements are counted in.

use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use super::BillingError;

/// What a refund is of.
#[derive(Debug, Clone, PartialEq)]
pub enum RefundOf {
    /// One captured usage event (billing's usage id).
    UsageEvent(Uuid),
    /// A payment or top-up (its journal transaction): the money goes back out.
    Payment(Uuid),
    /// The organization's usage that occurred in a calendar month (UTC).
    Period(Period),
}

/// A refund to post.
#[derive(Debug, Clone)]
pub struct Refund {
    /// Of what.
    pub of: RefundOf,
    /// How much (minor units, at most 9 decimal places); `None` refunds all that is left.
    pub amount_minor: Option<Decimal>,
    /// Why.
    pub reason: String,
}

/// A calendar month, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Year.
    pub year: i32,
    /// Month.
    pub month: time::Month,
}

impl Period {
    /// From `YYYY-MM`.
    pub fn parse(text: &str) -> Result<Period, BillingError> {
        let invalid = || BillingError::Invalid {
            field: "period",
            reason: format!("`{text}` is not a month written YYYY-MM"),
        };
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u8 = month.parse().map_err(|_| invalid())?;
        if !(2000..=9999).contains(&year) || year_digits(text) != 4 {
            return Err(invalid());
        }
        let month = time::Month::try_from(month).map_err(|_| invalid())?;
        Ok(Period { year, month })
    }

    /// The first instant of the month and of the next one.
    pub fn bounds(self) -> (OffsetDateTime, OffsetDateTime) {
        let first = |year: i32, month: time::Month| {
            time::Date::from_calendar_date(year, month, 1)
                .map(|d| d.midnight().assume_utc())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let (next_year, next_month) = match self.month {
            time::Month::December => (self.year + 1, time::Month::January),
            month => (self.year, month.next()),
        };
        (first(self.year, self.month), first(next_year, next_month))
    }

    /// The month `at` falls in.
    pub fn of(at: OffsetDateTime) -> Period {
        Period {
            year: at.year(),
            month: at.month(),
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

fn year_digits(text: &str) -> usize {
    text.split('-').next().map_or(0, str::len)
}
