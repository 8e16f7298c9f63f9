//! Exact money arithmetic: where amounts are rounded, to what, and which way.

use rust_decimal::{Decimal, RoundingStrategy};

/// Fractional digits of a minor unit kept for rated amounts and postings.
pub const AMOUNT_SCALE: u32 = 9;
/// Fractional digits of a minor unit a unit price may carry.
pub const PRICE_SCALE: u32 = 12;
/// Fractional digits a usage quantity may carry.
pub const QUANTITY_SCALE: u32 = 6;
/// Largest quantity one event may carry.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000;
/// Largest unit price, in minor units (10,000.00 of a two-digit currency per unit).
pub const MAX_UNIT_PRICE_MINOR: i64 = 1_000_000;
/// Largest single top-up, grant or credit line, in minor units.
pub const MAX_CREDIT_MINOR: i64 = 1_000_000_000_000;

/// The rated amount of `quantity` at `unit_price`: the exact product rounded once to
/// [`AMOUNT_SCALE`] digits, ties to even (unbiased: over many events rounding neither adds
/// nor removes money on average). Inputs within their bounds keep the product under 10^18
/// minor units, so it never overflows.
pub fn rate(quantity: Decimal, unit_price: Decimal) -> Option<Decimal> {
    let exact = quantity.checked_mul(unit_price)?;
    Some(exact.round_dp_with_strategy(AMOUNT_SCALE, RoundingStrategy::MidpointNearestEven))
}

/// A decimal within `0..=max` with at most `scale` fractional digits, or why not.
pub fn check_decimal(value: Decimal, scale: u32, max: i64) -> Result<Decimal, String> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err("must not be negative".into());
    }
    if value > Decimal::from(max) {
        return Err(format!("must be at most {max}"));
    }
    if value.normalize().scale() > scale {
        return Err(format!("must have at most {scale} decimal places"));
    }
    Ok(value.normalize())
}

/// Whole minor units for a credit: 1 to [`MAX_CREDIT_MINOR`].
pub fn check_credit(amount_minor: i64) -> Result<Decimal, String> {
    match (1..=MAX_CREDIT_MINOR).contains(&amount_minor) {
        true => Ok(Decimal::from(amount_minor)),
        false => Err(format!("must be 1 to {MAX_CREDIT_MINOR} minor units")),
    }
}

/// An ISO 4217-shaped code: three uppercase letters.
pub fn check_currency(code: &str) -> Result<(), String> {
    match code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
        true => Ok(()),
        false => Err("must be three uppercase letters (ISO 4217)".into()),
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("a decimal")
    }

    #[test]
    fn a_per_token_price_keeps_fractions_of_a_cent() {
        // $0.15 per million tokens is 0.000015 cents a token.
        assert_eq!(rate(d("1"), d("0.000015")), Some(d("0.000015")));
        assert_eq!(rate(d("1000000"), d("0.000015")), Some(d("15")));
    }

    #[test]
    fn rounding_happens_once_at_nine_digits_ties_to_even() {
        // 0.0000000005 is half a nano-cent: ties go to the even neighbour.
        assert_eq!(rate(d("1"), d("0.0000000005")), Some(d("0")));
        assert_eq!(rate(d("3"), d("0.0000000005")), Some(d("0.000000002")));
        assert_eq!(rate(d("1"), d("0.0000000015")), Some(d("0.000000002")));
        // Below the half it rounds down, above it up.
        assert_eq!(rate(d("1"), d("0.000000000499")), Some(d("0")));
        assert_eq!(rate(d("1"), d("0.000000000501")), Some(d("0.000000001")));
    }

    #[test]
    fn the_largest_inputs_do_not_overflow() {
        let q = Decimal::from(MAX_QUANTITY);
        let p = Decimal::from(MAX_UNIT_PRICE_MINOR);
        assert_eq!(rate(q, p), Some(d("1000000000000000000")));
        let fine = d("999999999999.999999");
        let price = d("999999.999999999999");
        assert!(rate(fine, price).is_some());
    }

    #[test]
    fn decimals_are_bounded_in_sign_size_and_scale() {
        assert!(check_decimal(d("-1"), 6, 10).is_err());
        assert!(check_decimal(d("11"), 6, 10).is_err());
        assert!(check_decimal(d("0.0000001"), 6, 10).is_err());
        assert_eq!(check_decimal(d("1.500000"), 6, 10), Ok(d("1.5")));
        assert!(check_credit(0).is_err());
        assert!(check_credit(MAX_CREDIT_MINOR + 1).is_err());
        assert!(check_currency("usd").is_err());
        assert!(check_currency("USD").is_ok());
    }
}
