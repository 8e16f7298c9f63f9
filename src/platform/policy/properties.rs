//! Property test of composition and decisions together: for random plans, overrides
//! (narrowing, widening and delegating) and request sequences, no admitted total exceeds
//! the ceiling of any scope that counts it, and a refused request changes no counter.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::book::{Book, LimitKey, Override, PlanVersion, Setting, Slot};
use super::compose::{Subject, compose};
use super::decision::{DecisionInput, Delta};
use super::dimensions::{Dimension, Dimensions, Period};
use super::engine::Engine;
use super::value::{Level, Value};
use crate::platform::iam::{OrganizationId, ProjectId};
use crate::platform::registry::packet::DimensionKind;

const DIMS: [(&str, DimensionKind); 3] = [
    ("p.rate", DimensionKind::Rate),
    ("p.quota", DimensionKind::Quota),
    ("p.slots", DimensionKind::Concurrency),
];

struct Fixed(HashMap<String, Arc<Dimension>>);

impl Dimensions for Fixed {
    fn generation(&self) -> u64 {
        0
    }

    fn dimension(&self, id: &str) -> Option<Arc<Dimension>> {
        self.0.get(id).cloned()
    }
}

fn dimensions() -> Fixed {
    Fixed(
        DIMS.iter()
            .map(|(id, kind)| {
                let d = Dimension {
                    id: (*id).into(),
                    name: Arc::from(*id),
                    product: "p".into(),
                    kind: *kind,
                    unit: "units".into(),
                    window: 60_000_000_000,
                    window_text: "1m".into(),
                    period: (*kind == DimensionKind::Quota).then_some(Period::Month),
                    usage_units: Arc::new(vec!["p.units".into()]),
                };
                ((*id).to_owned(), Arc::new(d))
            })
            .collect(),
    )
}

fn value() -> impl Strategy<Value = Setting> {
    let value = prop_oneof![
        1 => Just(Value::Unlimited),
        1 => Just(Value::NotEntitled),
        6 => (0u64..12).prop_map(Value::Limit),
    ];
    (value, proptest::bool::weighted(0.25))
        .prop_map(|(value, delegate)| Setting { value, delegate })
}

/// Where a random override may sit: (level, index of the scope at that level).
fn place() -> impl Strategy<Value = (Level, usize)> {
    prop_oneof![
        Just((Level::Global, 0)),
        Just((Level::Organization, 0)),
        Just((Level::Department, 0)),
        (0usize..2).prop_map(|p| (Level::Project, p)),
        (0usize..3).prop_map(|k| (Level::ApiKey, k)),
    ]
}

/// The world: one organization and department, two projects, three keys (two in the
/// first project, one in the second).
struct World {
    org: Uuid,
    department: Uuid,
    projects: [Uuid; 2],
    keys: [(&'static str, usize); 3],
}

impl World {
    fn new() -> World {
        World {
            org: Uuid::now_v7(),
            department: Uuid::now_v7(),
            projects: [Uuid::now_v7(), Uuid::now_v7()],
            keys: [("k0", 0), ("k1", 0), ("k2", 1)],
        }
    }

    fn subject(&self, key: usize) -> Subject {
        let (prefix, project) = self.keys[key];
        Subject {
            organization: self.org,
            department: Some(self.department),
            project: Some(self.projects[project]),
            principal: None,
            api_key: Some(prefix.to_owned()),
        }
    }

    fn scope_id(&self, level: Level, index: usize) -> String {
        match level {
            Level::Global => String::new(),
            Level::Plan => "default".into(),
            Level::Organization => self.org.to_string(),
            Level::Department => self.department.to_string(),
            Level::Project => self.projects[index].to_string(),
            Level::Principal => String::new(),
            Level::ApiKey => self.keys[index].0.to_owned(),
        }
    }
}

fn book(
    world: &World,
    plan: &[(usize, Setting)],
    overrides: &[((Level, usize), usize, Setting)],
) -> Book {
    let limits: BTreeMap<LimitKey, Setting> = plan
        .iter()
        .map(|(d, s)| {
            (
                LimitKey {
                    dimension: DIMS[*d].0.into(),
                    resource: None,
                },
                *s,
            )
        })
        .collect();
    let plan = PlanVersion {
        id: Uuid::now_v7(),
        name: "default".into(),
        version: 1,
        label: Arc::from("default@1"),
        description: String::new(),
        products: vec!["*".into()],
        limits,
        created_by: "test".into(),
        created_at: OffsetDateTime::UNIX_EPOCH,
    };
    let overrides = overrides
        .iter()
        .map(|((level, index), d, setting)| {
            let slot = Slot {
                level: *level,
                scope_id: world.scope_id(*level, *index),
                dimension: DIMS[*d].0.into(),
                resource: None,
            };
            let o = Override {
                id: Uuid::now_v7(),
                slot: slot.clone(),
                setting: *setting,
                reason: String::new(),
                author: String::new(),
                expires_at: None,
            };
            (slot, Arc::new(o))
        })
        .collect();
    Book {
        version: 1,
        plans: [("default".to_owned(), Arc::new(plan))]
            .into_iter()
            .collect(),
        assignments: HashMap::default(),
        overrides,
        entitlements: HashMap::default(),
    }
}

/// A counter's identity as composition names it.
type Counted = (String, Level, String);

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn admitted_totals_stay_under_every_ceiling_and_refusals_take_nothing(
        plan in proptest::collection::vec((0usize..3, value()), 0..4),
        overrides in proptest::collection::vec((place(), 0usize..3, value()), 0..8),
        requests in proptest::collection::vec((0usize..3, 0u64..5, 0u64..5, 0u64..3), 1..40),
    ) {
        let world = World::new();
        let book = book(&world, &plan, &overrides);
        let dims = dimensions();
        let engine = Engine::new(800, None);
        let now = OffsetDateTime::now_utc();
        let mut admitted: HashMap<Counted, u64> = HashMap::new();
        let mut held = Vec::new();
        for (key, rate, quota, slots) in requests {
            let subject = world.subject(key);
            let input = DecisionInput {
                organization: OrganizationId(world.org),
                project: ProjectId(subject.project.unwrap_or_default()),
                principal: None,
                api_key: subject.api_key.clone(),
                product: "p".into(),
                resource: None,
                action: None,
                deltas: [rate, quota, slots].iter().zip(DIMS).map(|(n, (d, _))| Delta { dimension: d.into(), amount: *n }).collect(),
                entitlements: Vec::new(),
            };
            let before = standings(&engine, &book, &dims, &world, now);
            let (decision, admission) = engine.decide(&book, &dims, &subject, &input, now, 0);
            if !decision.admitted() {
                prop_assert!(admission.is_none());
                prop_assert_eq!(&before, &standings(&engine, &book, &dims, &world, now), "a refusal changed a counter");
                continue;
            }
            held.extend(admission);
            for (delta, (dim, _)) in input.deltas.iter().zip(DIMS) {
                let composed = compose(&book, &subject, dim, None, now);
                for c in composed.constraints {
                    let total = admitted.entry((dim.to_owned(), c.level, c.counted_at.clone())).or_default();
                    *total += delta.amount;
                    prop_assert!(Value::Limit(*total) <= c.value, "{dim} at {:?} {}: {} admitted over {}", c.level, c.counted_at, total, c.value);
                }
            }
        }
    }
}

/// Every subject's standing in every dimension.
fn standings(
    engine: &Engine,
    book: &Book,
    dims: &Fixed,
    world: &World,
    now: OffsetDateTime,
) -> Vec<(u64, Option<u64>)> {
    (0..world.keys.len())
        .flat_map(|k| {
            let subject = world.subject(k);
            DIMS.iter()
                .filter_map(|(d, _)| dims.dimension(d))
                .map(|d| engine.standing(book, &subject, None, &d, now, 0))
                .map(|s| (s.used, s.remaining))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn an_override_applies_until_the_nanosecond_before_its_expiry_and_not_at_it() {
    let world = World::new();
    let mut book = book(
        &world,
        &[(
            0,
            Setting {
                value: Value::Limit(10),
                delegate: false,
            },
        )],
        &[],
    );
    let at = OffsetDateTime::now_utc();
    let slot = Slot {
        level: Level::Project,
        scope_id: world.projects[0].to_string(),
        dimension: DIMS[0].0.into(),
        resource: None,
    };
    let narrowing = Override {
        id: Uuid::now_v7(),
        slot: slot.clone(),
        setting: Setting {
            value: Value::Limit(3),
            delegate: false,
        },
        reason: "until the review".into(),
        author: "test".into(),
        expires_at: Some(at),
    };
    book.overrides.insert(slot, Arc::new(narrowing));
    let subject = world.subject(0);
    let just_before = compose(
        &book,
        &subject,
        DIMS[0].0,
        None,
        at - time::Duration::nanoseconds(1),
    );
    let at_expiry = compose(&book, &subject, DIMS[0].0, None, at);
    assert_eq!(
        (just_before.ceiling, just_before.from.map(|f| f.0)),
        (Value::Limit(3), Some(Level::Project))
    );
    assert_eq!(
        (at_expiry.ceiling, at_expiry.from.map(|f| f.0)),
        (Value::Limit(10), Some(Level::Plan))
    );
    assert_eq!(
        at_expiry.considered.last().map(|c| c.status),
        Some(super::compose::Status::Expired)
    );
}
