//! Random sequences of ingest, top-up, grant, expiry, refund, reserve, settle and release:
//! after every step the ledger reconciles and the balance and the spend guard agree with a
//! reference model written here without billing's code (one cent per request).

use aicloud::platform::billing::{
    BillingError, Credit, Estimate, Hold, NewGrant, Refund, RefundOf,
};
use aicloud::platform::iam::{OrganizationId, ProjectId};
use proptest::prelude::*;
use rust_decimal::Decimal;
use time::{Duration, OffsetDateTime};

use crate::billing_support::{Billed, MODEL, REQUESTS, console};

#[derive(Debug, Clone)]
enum Step {
    Ingest(Vec<i64>),
    TopUp(i64),
    Grant {
        amount: i64,
        priority: i32,
        soon: bool,
    },
    Expire,
    Refund {
        event: usize,
        amount: i64,
    },
    Reserve(i64),
    Settle {
        hold: usize,
        actual: i64,
    },
    Release(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop::collection::vec(1i64..40, 1..4).prop_map(Step::Ingest),
        2 => (1i64..400).prop_map(Step::TopUp),
        2 => (1i64..300, 0i32..3, any::<bool>())
            .prop_map(|(amount, priority, soon)| Step::Grant { amount, priority, soon }),
        1 => Just(Step::Expire),
        2 => (0usize..20, 1i64..40).prop_map(|(event, amount)| Step::Refund { event, amount }),
        2 => (1i64..200).prop_map(Step::Reserve),
        1 => (0usize..5, 0i64..80).prop_map(|(hold, actual)| Step::Settle { hold, actual }),
        1 => (0usize..5).prop_map(Step::Release),
    ]
}

/// A promotional lot as the model keeps it.
#[derive(Debug)]
struct Lot {
    left: i64,
    priority: i32,
    expires: Option<OffsetDateTime>,
    order: usize,
}

/// What the funds should be: cents, one per request.
#[derive(Debug, Default)]
struct Model {
    prepaid: i64,
    lots: Vec<Lot>,
    /// (event id, charged, refunded).
    events: Vec<(String, i64, i64)>,
    holds: Vec<(Hold, i64)>,
    overruns: u64,
    next_event: usize,
}

impl Model {
    fn counts(lot: &Lot, now: OffsetDateTime) -> bool {
        lot.left > 0 && lot.expires.is_none_or(|at| now < at)
    }

    fn promotional(&self, now: OffsetDateTime) -> i64 {
        self.lots
            .iter()
            .filter(|l| Model::counts(l, now))
            .map(|l| l.left)
            .sum()
    }

    fn available(&self, now: OffsetDateTime) -> i64 {
        self.prepaid + self.promotional(now) - self.holds.iter().map(|(_, c)| c).sum::<i64>()
    }

    /// Lots by priority (highest first), then expiry (soonest, never last), then age.
    fn charge(&mut self, mut amount: i64, now: OffsetDateTime) {
        let mut order: Vec<usize> = (0..self.lots.len())
            .filter(|i| Model::counts(&self.lots[*i], now))
            .collect();
        order.sort_by_key(|i| {
            let l = &self.lots[*i];
            (
                -l.priority,
                l.expires.map_or(i128::MAX, |t| t.unix_timestamp_nanos()),
                l.order,
            )
        });
        for i in order {
            let take = amount.min(self.lots[i].left);
            self.lots[i].left -= take;
            amount -= take;
        }
        self.prepaid -= amount;
    }

    /// Sleeps past any lot that would expire within the next step, so no expiry falls
    /// between the model's clock and the ledger's.
    async fn settle_clock(&self) {
        let soon = OffsetDateTime::now_utc() + Duration::milliseconds(150);
        let due = self
            .lots
            .iter()
            .filter_map(|l| l.expires)
            .filter(|at| *at <= soon)
            .max();
        if let Some(at) = due {
            while OffsetDateTime::now_utc() <= at {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

fn requests(n: i64) -> Vec<Estimate> {
    vec![Estimate {
        product: "token_factory".into(),
        unit: REQUESTS.into(),
        resource_type: MODEL.into(),
        resource_id: "demo".into(),
        quantity: Decimal::from(n),
    }]
}

async fn ingest(b: &Billed, m: &mut Model, quantities: &[i64]) {
    let events = quantities
        .iter()
        .map(|q| {
            m.next_event += 1;
            b.event(&format!("e{}", m.next_event), REQUESTS, *q, "demo")
        })
        .collect();
    b.ingest(events).await;
    m.charge(quantities.iter().sum(), OffsetDateTime::now_utc());
    let first = m.next_event + 1 - quantities.len();
    m.events.extend(
        quantities
            .iter()
            .enumerate()
            .map(|(i, q)| (format!("e{}", first + i), *q, 0)),
    );
}

async fn refund(b: &Billed, m: &mut Model, event: usize, amount: i64) {
    if m.events.is_empty() {
        return;
    }
    let index = event % m.events.len();
    let (id, charged, refunded) = m.events[index].clone();
    let usage = b.scalar(&format!(
        "SELECT id::text AS n FROM billing.usage_events WHERE event_id = '{id}'"
    ));
    let of = RefundOf::UsageEvent(usage.parse().expect("uuid"));
    let request = Refund {
        of,
        amount_minor: Some(Decimal::from(amount)),
        reason: "property".into(),
    };
    let done = b
        .platform
        .adjustments
        .refund(&console(), "acme", request)
        .await;
    if amount <= charged - refunded {
        done.expect("a refund within the charge");
        m.prepaid += amount;
        m.events[index].2 += amount;
    } else {
        assert!(matches!(done, Err(BillingError::Conflict(_))), "{done:?}");
    }
}

async fn apply(b: &Billed, m: &mut Model, step: &Step) {
    let (org, project) = (
        OrganizationId(b.org.organization.id),
        ProjectId(b.org.project.id),
    );
    match step {
        Step::Ingest(quantities) => ingest(b, m, quantities).await,
        Step::TopUp(amount) => {
            b.top_up(*amount).await;
            m.prepaid += amount;
        }
        Step::Grant {
            amount,
            priority,
            soon,
        } => {
            let expires = soon.then(|| OffsetDateTime::now_utc() + Duration::milliseconds(400));
            let grant = NewGrant {
                credit: Credit {
                    amount_minor: *amount,
                    reason: "property".into(),
                },
                priority: *priority,
                expires_at: expires,
            };
            b.platform
                .ledger
                .grant(&console(), "acme", grant)
                .await
                .expect("grant");
            let order = m.lots.len();
            m.lots.push(Lot {
                left: *amount,
                priority: *priority,
                expires,
                order,
            });
        }
        Step::Expire => {
            let now = OffsetDateTime::now_utc();
            let due = m
                .lots
                .iter_mut()
                .filter(|l| l.left > 0 && l.expires.is_some_and(|at| at <= now));
            let mut expected = 0;
            for lot in due {
                lot.left = 0;
                expected += 1;
            }
            assert_eq!(
                b.platform
                    .adjustments
                    .post_expiries()
                    .await
                    .expect("expiries"),
                expected
            );
        }
        Step::Refund { event, amount } => refund(b, m, *event, *amount).await,
        Step::Reserve(n) => {
            let admitted = b.platform.spend.reserve(org, project, &requests(*n));
            let available = m.available(OffsetDateTime::now_utc());
            assert_eq!(
                admitted.is_ok(),
                available > 0 && *n <= available,
                "{n} against {available}"
            );
            if let Ok(hold) = admitted {
                m.holds.push((hold, *n));
            }
        }
        Step::Settle { hold, actual } => {
            if m.holds.is_empty() {
                return;
            }
            let (hold, held) = m.holds.remove(hold % m.holds.len());
            if *actual > 0 {
                ingest(b, m, &[*actual]).await;
            }
            m.overruns += u64::from(*actual > held);
            b.platform.spend.settle(hold, &requests(*actual));
        }
        Step::Release(hold) => {
            if !m.holds.is_empty() {
                let (hold, _) = m.holds.remove(hold % m.holds.len());
                b.platform.spend.release(hold);
            }
        }
    }
}

async fn check(b: &Billed, m: &Model, step: &Step) {
    let balance = b.balance().await;
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        balance.prepaid_minor,
        Decimal::from(m.prepaid),
        "prepaid after {step:?}"
    );
    assert_eq!(
        balance.promotional_minor,
        Decimal::from(m.promotional(now)),
        "promotional after {step:?}"
    );
    // Lot by lot: which lot a charge drew on shows here before any expiry makes it count.
    let mut lots: Vec<(i32, Decimal)> = balance
        .grants
        .iter()
        .map(|g| (g.priority, g.remaining_minor))
        .collect();
    let mut expected: Vec<(i32, Decimal)> = m
        .lots
        .iter()
        .filter(|l| Model::counts(l, now))
        .map(|l| (l.priority, Decimal::from(l.left)))
        .collect();
    lots.sort();
    expected.sort();
    assert_eq!(lots, expected, "lots after {step:?}");
    b.assert_reconciles(&format!("{step:?}")).await;
    assert_eq!(b.platform.spend.overruns(), m.overruns);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn every_invariant_holds_after_every_step(steps in prop::collection::vec(step(), 4..14)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async {
            let b = Billed::start().await;
            b.price(REQUESTS, "1").await;
            let mut model = Model::default();
            for step in &steps {
                model.settle_clock().await;
                apply(&b, &mut model, step).await;
                model.settle_clock().await;
                check(&b, &model, step).await;
            }
        });
    }
}
