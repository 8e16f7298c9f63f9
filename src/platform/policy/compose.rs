//! Composition: the effective value of one dimension for one subject, walking the scope
//! chain global → plan → organization → department → project → principal → API key, each
//! level first for every resource, then for the request's resource.
//!
//! Rules:
//! - a value applies as a ceiling and is counted at its own scope (global and plan values
//!   are defaults counted per project);
//! - a lower value may only narrow: one wider than its parents is kept but cannot raise
//!   anything (the parent's ceiling still binds), and writes of such values are refused;
//! - a parent that *delegates* lets the next value set below it replace it, wider or not;
//! - an override stops applying at its expiry instant, with no job involved.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::book::{Book, Override, PlanVersion, Setting, Slot};
use super::value::{Level, Resource, Value};

/// Whom a decision or an effective policy is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// The organization.
    pub organization: Uuid,
    /// Its department (known from the project).
    pub department: Option<Uuid>,
    /// The project.
    pub project: Option<Uuid>,
    /// The user or service account acting.
    pub principal: Option<Uuid>,
    /// The API key acting, by prefix.
    pub api_key: Option<String>,
}

/// Where a considered value came from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// A plan version's value.
    Plan {
        /// Plan name.
        name: String,
        /// Its version.
        version: i32,
    },
    /// An override.
    Override {
        /// Its id.
        id: Uuid,
        /// Why it was set.
        reason: String,
        /// Who set it.
        author: String,
        /// When it stops applying.
        #[serde(with = "time::serde::rfc3339::option")]
        expires_at: Option<OffsetDateTime>,
    },
}

/// What became of a value composition looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It is a ceiling now.
    Applies,
    /// It is wider than a parent that does not delegate: the parent's ceiling binds.
    Wider,
    /// A lower scope replaced it (it delegates).
    Replaced,
    /// An override at the same scope replaced this plan value.
    Overridden,
    /// Its expiry has passed.
    Expired,
}

/// One value composition looked at, in chain order.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Considered {
    /// Level.
    pub level: Level,
    /// Scope id at that level.
    pub scope_id: String,
    /// Resource type and id, when specific to one.
    pub resource: Option<String>,
    /// The value as set.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Whether it delegates.
    pub delegate: bool,
    /// Plan or override.
    pub source: Source,
    /// What became of it.
    pub status: Status,
}

/// A ceiling that binds, and the scope it is counted at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    /// Level it was set at.
    pub level: Level,
    /// The scope that counts it (the project for global and plan values).
    pub counted_at: String,
    /// The resource it is specific to.
    pub resource: Option<Resource>,
    /// A limit, or not entitled.
    pub value: Value,
}

/// The effective value of one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// The tightest ceiling.
    pub ceiling: Value,
    /// Where it was set (none when nothing limits the dimension).
    pub from: Option<(Level, String)>,
    /// Every ceiling that binds (each is counted).
    pub constraints: Vec<Constraint>,
    /// Everything looked at, for explanations.
    pub considered: Vec<Considered>,
    /// The earliest expiry among the overrides looked at: the result changes then.
    pub next_expiry: Option<OffsetDateTime>,
}

/// The value at a slot: the override there, else (at plan level) the plan's.
fn value_at<'b>(
    book: &'b Book,
    plan: Option<&PlanVersion>,
    slot: &Slot,
) -> (Option<&'b Override>, Option<(Setting, Source)>) {
    let plan_value = plan.filter(|_| slot.level == Level::Plan).and_then(|plan| {
        let key = super::book::LimitKey {
            dimension: slot.dimension.clone(),
            resource: slot.resource.clone(),
        };
        plan.limits.get(&key).map(|setting| {
            let source = Source::Plan {
                name: plan.name.clone(),
                version: plan.version,
            };
            (*setting, source)
        })
    });
    (book.overrides.get(slot).map(AsRef::as_ref), plan_value)
}

/// The slots of the chain for `subject`, down to `upto` (inclusive), as (slot, the scope
/// that counts its value).
pub fn chain(
    subject: &Subject,
    plan: Option<&PlanVersion>,
    dimension: &str,
    resource: Option<&Resource>,
    upto: Level,
) -> Vec<(Slot, String)> {
    let project = subject.project.map(|p| p.to_string()).unwrap_or_default();
    let mut slots = Vec::with_capacity(14);
    for level in Level::ALL.into_iter().filter(|l| *l <= upto) {
        let scope_id = match level {
            Level::Global => Some(String::new()),
            Level::Plan => plan.map(|p| p.name.clone()),
            Level::Organization => Some(subject.organization.to_string()),
            Level::Department => subject.department.map(|d| d.to_string()),
            Level::Project => subject.project.map(|p| p.to_string()),
            Level::Principal => subject
                .principal
                .zip(subject.project)
                .map(|(principal, project)| format!("{project}:{principal}")),
            Level::ApiKey => subject.api_key.clone(),
        };
        let Some(scope_id) = scope_id else { continue };
        let counted_at = match level {
            Level::Global | Level::Plan => project.clone(),
            _ => scope_id.clone(),
        };
        let mut push = |resource: Option<Resource>| {
            let slot = Slot {
                level,
                scope_id: scope_id.clone(),
                dimension: dimension.to_owned(),
                resource,
            };
            slots.push((slot, counted_at.clone()));
        };
        push(None);
        if let Some(resource) = resource {
            push(Some(resource.clone()));
        }
    }
    slots
}

/// The effective value of `dimension` for `subject` at `now`.
pub fn compose(
    book: &Book,
    subject: &Subject,
    dimension: &str,
    resource: Option<&Resource>,
    now: OffsetDateTime,
) -> Composed {
    let plan = book.plan_of(subject.organization, now).map(AsRef::as_ref);
    walk(
        book,
        plan,
        chain(subject, plan, dimension, resource, Level::ApiKey),
        now,
    )
}

/// Composes the given slots in order.
pub fn walk(
    book: &Book,
    plan: Option<&PlanVersion>,
    slots: Vec<(Slot, String)>,
    now: OffsetDateTime,
) -> Composed {
    let mut out = Walk::default();
    if plan.is_none() {
        // No plan (its name assigned but never created): nothing is entitled.
        out.constraints.push((
            Constraint {
                level: Level::Plan,
                counted_at: String::new(),
                resource: None,
                value: Value::NotEntitled,
            },
            false,
            usize::MAX,
        ));
    }
    for (slot, counted_at) in slots {
        let (found, plan_value) = value_at(book, plan, &slot);
        if let Some((setting, source)) = plan_value.clone() {
            let status = if found.is_some_and(|o| o.live_at(now)) {
                Status::Overridden
            } else {
                out.step(&slot, &counted_at, setting)
            };
            out.consider(&slot, setting, source, status);
        }
        if let Some(found) = found {
            out.note_expiry(found.expires_at);
            let source = Source::Override {
                id: found.id,
                reason: found.reason.clone(),
                author: found.author.clone(),
                expires_at: found.expires_at,
            };
            let status = match found.live_at(now) {
                true => out.step(&slot, &counted_at, found.setting),
                false => Status::Expired,
            };
            out.consider(&slot, found.setting, source, status);
        }
    }
    out.finish()
}

/// The state of a walk: the ceilings so far, each with whether it delegates and the index
/// of its entry in `considered`.
#[derive(Default)]
struct Walk {
    constraints: Vec<(Constraint, bool, usize)>,
    considered: Vec<Considered>,
    next_expiry: Option<OffsetDateTime>,
}

impl Walk {
    /// Applies one live value; returns its status.
    fn step(&mut self, slot: &Slot, counted_at: &str, setting: Setting) -> Status {
        if self
            .constraints
            .last()
            .is_some_and(|(_, delegates, _)| *delegates)
            && let Some((_, _, index)) = self.constraints.pop()
            && let Some(entry) = self.considered.get_mut(index)
        {
            entry.status = Status::Replaced;
        }
        let ceiling = self.ceiling();
        let status = match setting.value > ceiling {
            true => Status::Wider,
            false => Status::Applies,
        };
        if setting.value != Value::Unlimited || setting.delegate {
            let constraint = Constraint {
                level: slot.level,
                counted_at: counted_at.to_owned(),
                resource: slot.resource.clone(),
                value: setting.value,
            };
            self.constraints
                .push((constraint, setting.delegate, self.considered.len()));
        }
        status
    }

    fn consider(&mut self, slot: &Slot, setting: Setting, source: Source, status: Status) {
        self.considered.push(Considered {
            level: slot.level,
            scope_id: slot.scope_id.clone(),
            resource: slot
                .resource
                .as_ref()
                .map(|r| format!("{}/{}", r.resource_type, r.id)),
            value: setting.value,
            delegate: setting.delegate,
            source,
            status,
        });
    }

    fn note_expiry(&mut self, at: Option<OffsetDateTime>) {
        if let Some(at) = at {
            self.next_expiry = Some(self.next_expiry.map_or(at, |n| n.min(at)));
        }
    }

    fn ceiling(&self) -> Value {
        self.constraints
            .iter()
            .map(|(c, _, _)| c.value)
            .min()
            .unwrap_or(Value::Unlimited)
    }

    fn finish(self) -> Composed {
        let ceiling = self.ceiling();
        let from = self
            .constraints
            .iter()
            .find(|(c, _, _)| c.value == ceiling)
            .and_then(|(_, _, index)| self.considered.get(*index))
            .map(|entry| (entry.level, entry.scope_id.clone()));
        Composed {
            ceiling,
            from,
            constraints: self
                .constraints
                .into_iter()
                .map(|(c, _, _)| c)
                .filter(|c| c.value != Value::Unlimited)
                .collect(),
            considered: self.considered,
            next_expiry: self.next_expiry,
        }
    }
}

/// Whether `setting` may be written at `slot`: refused with the reason when it is wider
/// than the ceiling its parents set and the nearest parent does not delegate.
pub fn check_narrowing(
    book: &Book,
    subject: &Subject,
    slot: &Slot,
    setting: Setting,
    now: OffsetDateTime,
) -> Result<(), String> {
    let plan = book.plan_of(subject.organization, now).map(AsRef::as_ref);
    let parents: Vec<(Slot, String)> = chain(
        subject,
        plan,
        &slot.dimension,
        slot.resource.as_ref(),
        slot.level,
    )
    .into_iter()
    .take_while(|(s, _)| s != slot)
    .filter(|(s, _)| slot.resource.is_some() || s.resource.is_none())
    .collect();
    check_against(book, plan, parents, setting, now)
}

/// Whether `setting` fits under the ceiling of `parents` (a plan's value is checked this
/// way against the global values).
pub fn check_against(
    book: &Book,
    plan: Option<&PlanVersion>,
    parents: Vec<(Slot, String)>,
    setting: Setting,
    now: OffsetDateTime,
) -> Result<(), String> {
    let mut walk = Walk::default();
    for (slot, counted_at) in parents {
        let (found, plan_value) = value_at(book, plan, &slot);
        let live = found.filter(|o| o.live_at(now)).map(|o| o.setting);
        if let Some(setting) = live.or(plan_value.map(|(s, _)| s)) {
            walk.step(&slot, &counted_at, setting);
        }
    }
    if walk
        .constraints
        .last()
        .is_some_and(|(_, delegates, _)| *delegates)
    {
        walk.constraints.pop();
    }
    let ceiling = walk.ceiling();
    if setting.value <= ceiling {
        return Ok(());
    }
    let level = walk
        .constraints
        .iter()
        .find(|(c, _, _)| c.value == ceiling)
        .map_or(Level::Global, |(c, _, _)| c.level);
    Err(format!(
        "{} is wider than the ceiling of {ceiling} set at the {} level, which does not \
         delegate: a lower scope may only narrow",
        setting.value,
        level.as_str()
    ))
}
