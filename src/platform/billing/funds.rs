//! An organization's funds as derived from its postings, and the rules over them: what is
//! available, the order usage draws on it, and which balance state that is.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::GrantView;

/// healthy → low_balance → depleted (and back on a credit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalanceState {
    /// Available funds at or above the low-balance threshold.
    Healthy,
    /// Below the threshold, above zero.
    LowBalance,
    /// Nothing available: reservations are refused.
    Depleted,
}

impl BalanceState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceState::Healthy => "healthy",
            BalanceState::LowBalance => "low_balance",
            BalanceState::Depleted => "depleted",
        }
    }

    /// From the stored name; anything unknown reads as depleted (fail closed).
    pub fn parse(s: &str) -> BalanceState {
        match s {
            "healthy" => BalanceState::Healthy,
            "low_balance" => BalanceState::LowBalance,
            _ => BalanceState::Depleted,
        }
    }

    /// The state `available` funds are in, given the low-balance threshold.
    pub fn of(available: Decimal, low_threshold: Decimal) -> BalanceState {
        if available <= Decimal::ZERO {
            BalanceState::Depleted
        } else if available < low_threshold {
            BalanceState::LowBalance
        } else {
            BalanceState::Healthy
        }
    }

    /// The outbox subject announcing a move into this state.
    pub fn subject(self) -> &'static str {
        match self {
            BalanceState::Healthy => "platform.billing.balance_restored",
            BalanceState::LowBalance => "platform.billing.balance_low",
            BalanceState::Depleted => "platform.billing.balance_depleted",
        }
    }
}

/// A promotional lot with what is left of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lot {
    /// Grant id.
    pub grant_id: Uuid,
    /// Granted.
    pub amount: Decimal,
    /// Left (granted plus every posting on the lot).
    pub remaining: Decimal,
    /// Higher is drawn first.
    pub priority: i32,
    /// When what is left stops counting.
    pub expires_at: Option<OffsetDateTime>,
    /// Ties broken by age.
    pub created_at: OffsetDateTime,
    /// Why it was granted.
    pub reason: String,
}

impl Lot {
    /// Whether the lot still counts at `now`.
    pub fn counts(&self, now: OffsetDateTime) -> bool {
        self.remaining > Decimal::ZERO && self.expires_at.is_none_or(|at| now < at)
    }
}

/// One organization's funds in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgFunds {
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of the prepaid account's postings.
    pub prepaid: Decimal,
    /// Promotional lots.
    pub lots: Vec<Lot>,
    /// Latest credit line.
    pub credit_line: Decimal,
    /// Last recorded state.
    pub state: BalanceState,
}

impl OrgFunds {
    /// No postings yet.
    pub fn empty(currency: &str) -> OrgFunds {
        OrgFunds {
            currency: currency.to_owned(),
            prepaid: Decimal::ZERO,
            lots: Vec::new(),
            credit_line: Decimal::ZERO,
            state: BalanceState::Depleted,
        }
    }

    /// Unexpired promotional value.
    pub fn promotional(&self, now: OffsetDateTime) -> Decimal {
        self.lots
            .iter()
            .filter(|l| l.counts(now))
            .map(|l| l.remaining)
            .sum()
    }

    /// prepaid + unexpired promotional + credit line.
    pub fn available(&self, now: OffsetDateTime) -> Decimal {
        self.prepaid + self.promotional(now) + self.credit_line
    }

    /// How a debit of `amount` is drawn: (lot, part) in consumption order, then the rest
    /// from prepaid (`None`), which takes whatever the lots cannot, even past the credit
    /// line: usage that happened is charged in full.
    pub fn draw(&self, amount: Decimal, now: OffsetDateTime) -> Vec<(Option<Uuid>, Decimal)> {
        let mut lots: Vec<&Lot> = self.lots.iter().filter(|l| l.counts(now)).collect();
        lots.sort_by(|a, b| {
            (b.priority.cmp(&a.priority))
                .then_with(|| expiry_order(a.expires_at, b.expires_at))
                .then_with(|| a.created_at.cmp(&b.created_at))
        });
        let mut left = amount;
        let mut parts = Vec::new();
        for lot in lots {
            if left <= Decimal::ZERO {
                break;
            }
            let part = left.min(lot.remaining);
            parts.push((Some(lot.grant_id), part));
            left -= part;
        }
        if left > Decimal::ZERO {
            parts.push((None, left));
        }
        parts
    }

    /// Applies a drawn debit to this copy (so several events of one batch see each other).
    pub fn apply_draw(&mut self, parts: &[(Option<Uuid>, Decimal)]) {
        for (lot, part) in parts {
            match lot.and_then(|id| self.lots.iter_mut().find(|l| l.grant_id == id)) {
                Some(lot) => lot.remaining -= part,
                None => self.prepaid -= part,
            }
        }
    }

    /// Lots with value left, for display.
    pub fn grant_views(&self, now: OffsetDateTime) -> Vec<GrantView> {
        self.lots
            .iter()
            .filter(|l| l.counts(now))
            .map(|l| GrantView {
                id: l.grant_id,
                amount_minor: l.amount.normalize(),
                remaining_minor: l.remaining.normalize(),
                priority: l.priority,
                expires_at: l.expires_at,
                reason: l.reason.clone(),
            })
            .collect()
    }
}

/// Soonest expiry first; a lot that never expires last.
fn expiry_order(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// Every organization's funds, as of one load.
#[derive(Debug, Default)]
pub struct Funds {
    /// By organization.
    pub orgs: HashMap<Uuid, OrgFunds>,
    /// This process's pending journal transactions that the load could see.
    pub included: std::collections::HashSet<Uuid>,
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn lot(priority: i32, remaining: i64, expires: Option<OffsetDateTime>) -> Lot {
        Lot {
            grant_id: Uuid::now_v7(),
            amount: Decimal::from(remaining),
            remaining: Decimal::from(remaining),
            priority,
            expires_at: expires,
            created_at: datetime!(2026-11-01 00:00 UTC),
            reason: "test".into(),
        }
    }

    #[test]
    fn usage_draws_by_priority_then_soonest_expiry_then_prepaid() {
        let now = datetime!(2026-11-10 00:00 UTC);
        let soon = lot(0, 5, Some(datetime!(2026-11-20 00:00 UTC)));
        let late = lot(0, 5, Some(datetime!(2026-12-20 00:00 UTC)));
        let first = lot(9, 3, None);
        let expired = lot(100, 50, Some(datetime!(2026-11-09 00:00 UTC)));
        let mut funds = OrgFunds::empty("USD");
        funds.prepaid = Decimal::from(10);
        funds.lots = vec![late.clone(), soon.clone(), first.clone(), expired];
        let parts = funds.draw(Decimal::from(15), now);
        let expected = vec![
            (Some(first.grant_id), Decimal::from(3)),
            (Some(soon.grant_id), Decimal::from(5)),
            (Some(late.grant_id), Decimal::from(5)),
            (None, Decimal::from(2)),
        ];
        assert_eq!(parts, expected);
        funds.apply_draw(&parts);
        assert_eq!(funds.prepaid, Decimal::from(8));
        assert_eq!(funds.available(now), Decimal::from(8));
    }

    #[test]
    fn expired_value_stops_counting_at_its_instant() {
        let at = datetime!(2026-11-20 00:00 UTC);
        let mut funds = OrgFunds::empty("USD");
        funds.lots = vec![lot(0, 5, Some(at))];
        let just_before = at - time::Duration::nanoseconds(1);
        assert_eq!(funds.available(just_before), Decimal::from(5));
        assert_eq!(funds.available(at), Decimal::ZERO);
        let states: Vec<_> = ["0", "0.5", "10"]
            .iter()
            .map(|s| BalanceState::of(s.parse().expect("decimal"), Decimal::from(1)))
            .collect();
        assert_eq!(
            states,
            [
                BalanceState::Depleted,
                BalanceState::LowBalance,
                BalanceState::Healthy
            ]
        );
    }
}
