//! Monthly statements and reconciliation reports, and the CSV a statement is downloaded as.

use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// An organization's month (UTC), from its ledger: opening + every movement = closing.
/// Balances are money held: prepaid plus promotional credit (a credit line is a limit,
/// not money, and is not in them).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Statement {
    /// Organization id.
    pub organization_id: Uuid,
    /// `YYYY-MM`.
    pub period: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Held at the first instant of the month.
    #[schema(value_type = String)]
    pub opening_minor: Decimal,
    /// Movements by kind (topup, payment, grant, expiry, usage, refund, correction), signed
    /// as they moved the organization's money.
    pub movements: Vec<Movement>,
    /// Usage posted in the month, by product, unit and resource (amounts positive).
    pub usage: Vec<UsageLine>,
    /// Held at the first instant of the next month.
    #[schema(value_type = String)]
    pub closing_minor: Decimal,
}

/// What one kind of transaction moved in the month.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Movement {
    /// Journal kind.
    pub kind: String,
    /// Signed total.
    #[schema(value_type = String)]
    pub amount_minor: Decimal,
}

/// Usage of one product, unit and resource in the month.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UsageLine {
    /// Product id.
    pub product: String,
    /// Usage unit.
    pub unit: String,
    /// Resource type.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// Total quantity.
    #[schema(value_type = String)]
    pub quantity: Decimal,
    /// Total charged.
    #[schema(value_type = String)]
    pub amount_minor: Decimal,
}

impl Statement {
    /// The statement as CSV: one row per line, `line,product,unit,resource_type,
    /// resource_id,quantity,amount_minor`, amounts at full precision.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record([
            "line",
            "product",
            "unit",
            "resource_type",
            "resource_id",
            "quantity",
            "amount_minor",
        ])?;
        let money = |line: &str, amount: Decimal| {
            [
                line.to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                amount.to_string(),
            ]
        };
        out.write_record(money("opening", self.opening_minor))?;
        for m in &self.movements {
            out.write_record(money(&m.kind, m.amount_minor))?;
        }
        for u in &self.usage {
            out.write_record([
                "usage_line",
                &u.product,
                &u.unit,
                &u.resource_type,
                &u.resource_id,
                &u.quantity.to_string(),
                &u.amount_minor.to_string(),
            ])?;
        }
        out.write_record(money("closing", self.closing_minor))?;
        let bytes = out.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// What `reconcile` found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reconciliation {
    /// When it ran.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// The checks that ran, by name.
    pub checks: Vec<String>,
    /// Everything that does not hold; empty when the ledger reconciles.
    pub violations: Vec<Violation>,
}

/// One invariant that does not hold, and where.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Violation {
    /// Which check.
    pub check: String,
    /// What, naming the rows.
    pub detail: String,
}

/// What a day's usage of one resource cost.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DailyUsage {
    /// `YYYY-MM-DD` (UTC), when the usage occurred.
    pub day: String,
    /// The resource (e.g. a model).
    pub resource_id: String,
    /// Charged.
    #[schema(value_type = String)]
    pub amount_minor: Decimal,
}
