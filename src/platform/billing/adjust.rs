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

    /// The month before this one.
    pub fn previous(self) -> Period {
        match self.month {
            time::Month::January => Period {
                year: self.year - 1,
                month: time::Month::December,
            },
            month => Period {
                year: self.year,
                month: month.previous(),
            },
        }
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

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_print_and_step_back_across_a_year() {
        let january = Period::parse("2027-01").expect("a month");
        assert_eq!(january.previous().to_string(), "2026-12");
        assert_eq!(january.to_string(), "2027-01");
        let (from, to) = Period::parse("2026-12").expect("a month").bounds();
        assert_eq!(
            (from.to_string(), to.to_string()),
            (
                "2026-12-01 0:00:00.0 +00:00:00".into(),
                "2027-01-01 0:00:00.0 +00:00:00".into()
            )
        );
        for bad in ["2026-13", "2026-1x", "26-01", "2026", "02026-01"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}
