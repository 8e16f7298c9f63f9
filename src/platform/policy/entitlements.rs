//! Entitlements: who may use which product feature. Products declare them (registry family
//! `entitlement`, with the level they apply at and whether tenants hold them by default);
//! policy holds what each scope sets: granted or withheld, platform-wide, for a plan, an
//! organization or a project. The most specific setting wins; where none is set, the
//! declared default applies, and an undeclared or retired entitlement is never held.
//!
//! Like every policy value, a lower scope may narrow what its parent gives but not widen
//! it: withholding is always within a scope's own authority, granting what the level
//! above withholds is a platform operator's (see the store's `set_entitlement`).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use time::OffsetDateTime;
use uuid::Uuid;

use super::book::{Book, Fast};
use super::value::Level;
use crate::platform::registry::Registry;
use crate::platform::registry::packet::{EntitlementDefault, EntitlementLevel};

/// The registry family entitlements live in.
pub const FAMILY: &str = "entitlement";

/// An active entitlement entry, as decisions need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// Registry id.
    pub id: Arc<str>,
    /// The product that declares it.
    pub product: String,
    /// Where it applies: the whole product, an organization or a project.
    pub level: EntitlementLevel,
    /// Whether tenants hold it where no scope sets it.
    pub granted_by_default: bool,
}

impl Definition {
    /// From a registry entry; `None` when its attributes do not make one.
    fn parse(id: &str, product: &str, entry: &serde_json::Value) -> Option<Self> {
        let level = serde_json::from_value(entry.get("level")?.clone()).ok()?;
        let default = match entry.get("default") {
            None => EntitlementDefault::Withheld,
            Some(value) => serde_json::from_value(value.clone()).ok()?,
        };
        Some(Definition {
            id: Arc::from(id),
            product: product.to_owned(),
            level,
            granted_by_default: default == EntitlementDefault::Granted,
        })
    }

    /// Whether a setting at `level` means anything for this entitlement: a product-wide one
    /// is set only platform-wide, an organization's not per project.
    pub fn settable_at(&self, level: Level) -> bool {
        let deepest = match self.level {
            EntitlementLevel::Product => Level::Global,
            EntitlementLevel::Organization => Level::Organization,
            EntitlementLevel::Project => Level::Project,
        };
        SETTABLE.contains(&level) && level <= deepest
    }
}

/// The levels an entitlement can be set at, most general first.
pub const SETTABLE: [Level; 4] = [
    Level::Global,
    Level::Plan,
    Level::Organization,
    Level::Project,
];

/// Entitlement entries from the registry's active set, parsed once per registry generation
/// and swapped whole (read on every decision, never locked).
pub struct RegistryEntitlements {
    registry: Arc<dyn Registry>,
    parsed: ArcSwap<Parsed>,
}

#[derive(Default)]
struct Parsed {
    generation: Option<u64>,
    by_id: HashMap<String, Arc<Definition>, Fast>,
}

impl RegistryEntitlements {
    /// Over `registry`.
    pub fn new(registry: Arc<dyn Registry>) -> RegistryEntitlements {
        RegistryEntitlements {
            registry,
            parsed: ArcSwap::from_pointee(Parsed::default()),
        }
    }

    /// The active entitlement `id`; `None` when it is unknown, draft, retired or malformed.
    pub fn get(&self, id: &str) -> Option<Arc<Definition>> {
        self.current().by_id.get(id).cloned()
    }

    /// Every active entitlement, by id.
    pub fn all(&self) -> Vec<Arc<Definition>> {
        let mut all: Vec<_> = self.current().by_id.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn current(&self) -> Arc<Parsed> {
        let generation = self.registry.generation();
        let current = self.parsed.load_full();
        if current.generation == Some(generation) {
            return current;
        }
        let by_id = self
            .registry
            .active_entries(FAMILY)
            .into_iter()
            .filter_map(|(id, entry)| {
                Definition::parse(&id, &entry.product, &entry.attributes).map(|d| (id, Arc::new(d)))
            })
            .collect();
        let next = Arc::new(Parsed {
            generation: Some(generation),
            by_id,
        });
        self.parsed.store(Arc::clone(&next));
        next
    }
}

/// An entitlement as one scope sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Id.
    pub id: Uuid,
    /// The entitlement.
    pub entitlement: String,
    /// The level it is set at.
    pub level: Level,
    /// Empty (global), the plan's name, or the organization's or project's id.
    pub scope_id: String,
    /// Granted or withheld.
    pub granted: bool,
    /// Set with platform authority: a tenant may not replace or clear it.
    pub imposed: bool,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub author: String,
    /// When.
    pub created_at: OffsetDateTime,
}

/// One entitlement's live settings, by scope (looked up without allocating).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Platform-wide.
    pub global: Option<Arc<Setting>>,
    /// Per plan name.
    pub plans: HashMap<String, Arc<Setting>, Fast>,
    /// Per organization.
    pub organizations: HashMap<Uuid, Arc<Setting>, Fast>,
    /// Per project.
    pub projects: HashMap<Uuid, Arc<Setting>, Fast>,
}

impl Settings {
    /// Files `setting` under its scope (a scope id that does not parse is dropped: it was
    /// written by this module, so it cannot happen short of a hand edit, and then it fails
    /// closed to the level above).
    pub fn insert(&mut self, setting: Setting) {
        let setting = Arc::new(setting);
        match setting.level {
            Level::Global => self.global = Some(setting),
            Level::Plan => {
                self.plans.insert(setting.scope_id.clone(), setting);
            }
            Level::Organization => {
                if let Ok(id) = setting.scope_id.parse() {
                    self.organizations.insert(id, setting);
                }
            }
            Level::Project => {
                if let Ok(id) = setting.scope_id.parse() {
                    self.projects.insert(id, setting);
                }
            }
            _ => {}
        }
    }

    /// The live setting at `level` for `holder` (on the plan `plan`), if any.
    pub fn at(&self, level: Level, holder: Holder, plan: Option<&str>) -> Option<&Arc<Setting>> {
        match level {
            Level::Project => holder.project.and_then(|p| self.projects.get(&p)),
            Level::Organization => self.organizations.get(&holder.organization),
            Level::Plan => plan.and_then(|p| self.plans.get(p)),
            Level::Global => self.global.as_ref(),
            _ => None,
        }
    }
}

/// Whose entitlement is asked about.
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    /// The organization.
    pub organization: Uuid,
    /// The project, when asking for one.
    pub project: Option<Uuid>,
}

/// Whether a holder has an entitlement, and which setting said so (none: the default).
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// Held.
    pub held: bool,
    /// The level of the setting that decided (none: the entitlement's default).
    pub level: Option<Level>,
    /// Its id.
    pub setting_id: Option<Uuid>,
}

/// The standing of `definition` for `holder` at `now`, from the settings at levels above
/// `below` (every level when `None`): the most specific wins.
pub fn standing(
    book: &Book,
    definition: &Definition,
    holder: Holder,
    now: OffsetDateTime,
    below: Option<Level>,
) -> Standing {
    let default = Standing {
        held: definition.granted_by_default,
        level: None,
        setting_id: None,
    };
    let Some(settings) = book.entitlements.get(&*definition.id) else {
        return default;
    };
    let plan = book
        .plan_of(holder.organization, now)
        .map(|p| p.name.as_str());
    SETTABLE
        .iter()
        .rev()
        .filter(|level| below.is_none_or(|b| **level < b) && definition.settable_at(**level))
        .find_map(|level| settings.at(*level, holder, plan))
        .map_or(default, |s| Standing {
            held: s.granted,
            level: Some(s.level),
            setting_id: Some(s.id),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: Uuid = Uuid::from_u128(1);
    const PROJECT: Uuid = Uuid::from_u128(2);

    fn definition(level: EntitlementLevel, granted_by_default: bool) -> Definition {
        Definition {
            id: Arc::from("p.feature"),
            product: "p".into(),
            level,
            granted_by_default,
        }
    }

    fn book_with(settings: &[(Level, &str, bool)]) -> Book {
        let mut book = Book::default();
        let plan = super::super::book::PlanVersion {
            id: Uuid::from_u128(9),
            name: "default".into(),
            version: 1,
            label: Arc::from("default@1"),
            description: String::new(),
            products: vec!["*".into()],
            limits: Default::default(),
            created_by: String::new(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        book.plans.insert("default".into(), Arc::new(plan));
        let mut all = Settings::default();
        for (i, (level, scope_id, granted)) in settings.iter().enumerate() {
            all.insert(Setting {
                id: Uuid::from_u128(100 + i as u128),
                entitlement: "p.feature".into(),
                level: *level,
                scope_id: (*scope_id).into(),
                granted: *granted,
                imposed: false,
                reason: String::new(),
                author: String::new(),
                created_at: OffsetDateTime::UNIX_EPOCH,
            });
        }
        book.entitlements.insert("p.feature".into(), all);
        book
    }

    fn held(book: &Book, definition: &Definition, below: Option<Level>) -> bool {
        let holder = Holder {
            organization: ORG,
            project: Some(PROJECT),
        };
        standing(book, definition, holder, OffsetDateTime::now_utc(), below).held
    }

    #[test]
    fn with_nothing_set_the_declared_default_applies() {
        let book = book_with(&[]);
        assert!(held(
            &book,
            &definition(EntitlementLevel::Project, true),
            None
        ));
        assert!(!held(
            &book,
            &definition(EntitlementLevel::Project, false),
            None
        ));
    }

    #[test]
    fn the_most_specific_setting_wins() {
        let org = ORG.to_string();
        let project = PROJECT.to_string();
        let premium = definition(EntitlementLevel::Project, false);
        let book = book_with(&[
            (Level::Plan, "default", true),
            (Level::Organization, &org, false),
            (Level::Project, &project, true),
        ]);
        assert!(held(&book, &premium, None));
        assert!(!held(&book, &premium, Some(Level::Project)));
        assert!(held(&book, &premium, Some(Level::Organization)));
        assert!(!held(&book, &premium, Some(Level::Plan)));
    }

    #[test]
    fn a_setting_below_the_entitlements_level_means_nothing() {
        let project = PROJECT.to_string();
        let per_org = definition(EntitlementLevel::Organization, true);
        let book = book_with(&[(Level::Project, &project, false)]);
        assert!(held(&book, &per_org, None));
        assert!(!per_org.settable_at(Level::Project));
        let product_wide = definition(EntitlementLevel::Product, true);
        assert!(product_wide.settable_at(Level::Global));
        assert!(!product_wide.settable_at(Level::Plan));
    }
}
