//! The onboarding packet: what a product declares, as written in `config/products/<slug>.toml`
//! (or sent as JSON). Parsing is strict about keys and types; completeness is judged later by
//! the review, so a missing field is reported by name instead of failing the parse.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole packet. Sections other than `product` may be absent (reported missing) or
/// `not_applicable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    /// Product identity.
    pub product: ProductSection,
    /// What the product owns: packages, routes, schemas, events, frontend surfaces.
    pub ownership: Option<Ownership>,
    /// Scopes, roles, service accounts, entitlements.
    pub iam: Option<Iam>,
    /// Usage units, resource types, rating posture.
    pub billing: Option<Billing>,
    /// Audit actions, retention classes, invariants.
    pub audit: Option<Audit>,
    /// Evidence types and release/UAT proof.
    pub evidence: Option<Evidence>,
    /// Status components and SLO posture.
    pub status: Option<Status>,
    /// Notification templates and escalation.
    pub notifications: Option<Notifications>,
    /// Quota dimensions, snapshot kinds, override scopes.
    pub policy: Option<Policy>,
    /// Credential purposes.
    pub secrets: Option<Secrets>,
    /// Persona pages.
    pub portal: Option<Portal>,
    /// Keep, split or extract.
    pub extraction: Option<Extraction>,
}

/// Why something is intentionally not declared, who decided, and when to look again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotApplicable {
    /// Who owns the decision.
    pub owner: String,
    /// Why it does not apply.
    pub reason: String,
    /// When the decision must be reviewed again.
    pub review_date: ReviewDate,
}

/// A calendar date, written as a TOML date (`2027-01-31`) or a `"2027-01-31"` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReviewDate(pub time::Date);

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

impl fmt::Display for ReviewDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(DATE_FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for ReviewDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReviewDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ReviewDate, D::Error> {
        struct DateVisitor;
        impl<'de> Visitor<'de> for DateVisitor {
            type Value = ReviewDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date like 2027-01-31")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ReviewDate, E> {
                time::Date::parse(s, DATE_FORMAT)
                    .map(ReviewDate)
                    .map_err(|_| E::custom(format!("`{s}` is not a date like 2027-01-31")))
            }
            // TOML hands native dates over as a one-entry map holding their text.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReviewDate, A::Error> {
                let (_, text): (String, String) = map
                    .next_entry()?
                    .ok_or_else(|| de::Error::custom("expected a date"))?;
                self.visit_str(&text)
            }
        }
        d.deserialize_any(DateVisitor)
    }
}

/// A family of entries: either the entries, or `{ not_applicable = { ... } }` for all of it.
#[derive(Debug, Clone, PartialEq)]
pub enum Family<T> {
    /// Declared entries.
    Entries(Vec<T>),
    /// The whole family is intentionally not declared.
    NotApplicable(NotApplicable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyNotApplicable {
    not_applicable: NotApplicable,
}

#[derive(Serialize)]
struct FamilyNotApplicableRef<'a> {
    not_applicable: &'a NotApplicable,
}

impl<T: Serialize> Serialize for Family<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Family::Entries(entries) => entries.serialize(s),
            Family::NotApplicable(na) => FamilyNotApplicableRef { not_applicable: na }.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Family<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Family<T>, D::Error> {
        struct FamilyVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for FamilyVisitor<T> {
            type Value = Family<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an array of entries, or { not_applicable = { owner, reason, review_date } }",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Family<T>, A::Error> {
                Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(Family::Entries)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Family<T>, A::Error> {
                FamilyNotApplicable::deserialize(MapAccessDeserializer::new(map))
                    .map(|f| Family::NotApplicable(f.not_applicable))
            }
        }
        d.deserialize_any(FamilyVisitor(PhantomData))
    }
}

/// Declares a registry entry type: the fields every entry has, then its own. Every own field
/// is required unless the entry is `not_applicable`; `optional` ones may be left out.
macro_rules! entry {
    (
        $(#[$meta:meta])* $name:ident, family = $family:literal,
        required { $($(#[$rmeta:meta])* $req:ident : $rty:ty),* $(,)? }
        optional { $($(#[$ometa:meta])* $opt:ident : $oty:ty),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Namespaced id, `<product id>.<name>`.
            pub id: String,
            /// Contract version; bump it for any incompatible change. Defaults to 1.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub version: Option<u32>,
            /// `active` (the default) or `draft` (stored but failing closed).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub state: Option<DeclaredState>,
            /// What the entry means.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// Set instead of the fields below when the entry does not apply.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub not_applicable: Option<NotApplicable>,
            $($(#[$rmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $req: Option<$rty>,)*
            $($(#[$ometa])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $opt: Option<$oty>,)*
        }

        impl Entry for $name {
            const FAMILY: &'static str = $family;
            fn head(&self) -> Head<'_> {
                Head {
                    id: &self.id,
                    version: self.version.unwrap_or(1),
                    state: self.state.unwrap_or(DeclaredState::Active),
                    description: self.description.as_deref(),
                    not_applicable: self.not_applicable.as_ref(),
                }
            }
            fn missing(&self) -> Vec<&'static str> {
                let mut missing = Vec::new();
                if self.not_applicable.is_some() {
                    return missing;
                }
                if self.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
                    missing.push("description");
                }
                $(if self.$req.is_none() { missing.push(stringify!($req)); })*
                missing
            }
            fn has_definition(&self) -> bool {
                self.description.is_some() $(|| self.$req.is_some())* $(|| self.$opt.is_some())*
            }
        }
    };
}

/// The declared state of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclaredState {
    /// Activated on onboarding.
    Active,
    /// Recorded, but fails closed until declared active.
    Draft,
}

/// The fields every entry has.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// Namespaced id.
    pub id: &'a str,
    /// Contract version.
    pub version: u32,
    /// Declared state.
    pub state: DeclaredState,
    /// Meaning.
    pub description: Option<&'a str>,
    /// Present when the entry does not apply.
    pub not_applicable: Option<&'a NotApplicable>,
}

/// What the review and the store need from any entry type.
pub trait Entry: Serialize {
    /// Registry family name, e.g. `scope`.
    const FAMILY: &'static str;
    /// Common fields.
    fn head(&self) -> Head<'_>;
    /// Names of required fields left out.
    fn missing(&self) -> Vec<&'static str>;
    /// Whether any field beyond id/version/state is set (conflicts with `not_applicable`).
    fn has_definition(&self) -> bool;
}

entry!(
    /// A permission string products check through IAM.
    Scope, family = "scope", required {} optional {}
);
entry!(
    /// A named bundle of scopes. A product's role grants only its own scopes and those of
    /// [`PRODUCT_ROLE_PLATFORM_SCOPES`](super::validate::PRODUCT_ROLE_PLATFORM_SCOPES).
    Role, family = "role",
    required {
        /// Scopes the role grants (ids of scope entries).
        scopes: Vec<String>,
        /// Whether a tenant (an organization's owner or admin) may bind it; `false` leaves
        /// binding it to platform administrators. Required, so leaving it out fails review.
        tenant_bindable: bool,
    }
    optional {}
);
entry!(
    /// A non-human principal the product needs.
    ServiceAccount, family = "service_account",
    required {
        /// Why it exists.
        purpose: String,
        /// Scopes it holds.
        scopes: Vec<String>,
    }
    optional {}
);
entry!(
    /// Something a tenant can be entitled to.
    Entitlement, family = "entitlement",
    required { /// `product`, `organization` or `project`.
        level: EntitlementLevel }
    optional {
        /// Whether a tenant holds it until some scope says otherwise; `withheld` when left
        /// out (fail closed).
        default: EntitlementDefault,
    }
);
entry!(
    /// A metered quantity.
    UsageUnit, family = "usage_unit",
    required {
        /// e.g. `token`, `request`, `gpu_hour`.
        unit_of_measure: String,
        /// How quantities combine within a period.
        aggregation: Aggregation,
    }
    optional {}
);
entry!(
    /// A kind of billable or auditable resource.
    ResourceType, family = "resource_type", required {} optional {}
);
entry!(
    /// A privileged mutation recorded in audit.
    AuditAction, family = "audit_action",
    required {
        /// Whether it is privileged (needs elevated scope).
        privileged: bool,
        /// Kind of thing it acts on, e.g. `model`.
        target_type: String,
        /// Retention class id.
        retention_class: String,
    }
    optional {}
);
entry!(
    /// How long records are kept.
    RetentionClass, family = "retention_class",
    required { /// Days kept.
        duration_days: u32 }
    optional {}
);
entry!(
    /// A kind of evidence item.
    EvidenceType, family = "evidence_type",
    required {
        /// Results an item may record, e.g. `pass`, `fail`.
        allowed_results: Vec<String>,
        /// Retention class id.
        retention_class: String,
    }
    optional {}
);
entry!(
    /// A message the platform sends on the product's behalf.
    NotificationTemplate, family = "notification_template",
    required {
        /// `info`, `warning` or `critical`.
        severity: Severity,
        /// Delivery channels, e.g. `inbox`, `email`.
        channels: Vec<String>,
        /// Variables the message uses.
        variables: Vec<String>,
        /// Who receives it, e.g. `org_owners`.
        recipients: String,
    }
    optional {}
);
entry!(
    /// A component on the status page.
    StatusComponent, family = "status_component",
    required {
        /// Group on the status page.
        group: String,
        /// Its service-level objective.
        slo: String,
        /// When it counts as degraded or down.
        degradation_rules: Vec<String>,
    }
    optional { /// Outbox, DLQ or other dependencies it degrades with.
        dependencies: Vec<String> }
);
entry!(
    /// Something policy limits.
    QuotaDimension, family = "quota_dimension",
    required {
        /// `rate`, `quota`, `concurrency` or `capacity`.
        kind: DimensionKind,
        /// What is counted, e.g. `requests`, `tokens`.
        unit: String,
    }
    optional {
        /// Rate window (`1m`) or quota period (`day`, `month`); none for concurrency and
        /// capacity.
        window: String,
        /// For a quota: the billing usage units whose recorded quantities count against
        /// it (billing's quota feed); a quota naming none cannot be counted and refuses
        /// whenever a finite limit applies.
        usage_units: Vec<String>,
    }
);
entry!(
    /// A kind of policy snapshot.
    SnapshotKind, family = "snapshot_kind", required {} optional {}
);
entry!(
    /// A scope at which limits may be overridden.
    OverrideScope, family = "override_scope",
    required {
        /// Levels of the scope chain it lets the product's limits be overridden at:
        /// `global`, `plan`, `organization`, `department`, `project`, `principal`, `api_key`.
        levels: Vec<String>,
    }
    optional {
        /// A resource type of the product: overrides through this scope name one resource
        /// of it (e.g. one model) instead of applying to all.
        resource_type: String,
    }
);
entry!(
    /// Why the product holds a secret.
    SecretPurpose, family = "secret_purpose", required {} optional {}
);
entry!(
    /// An event subject the product publishes.
    EventSubject, family = "event_subject",
    required {
        /// Module or product that writes it.
        producer: String,
        /// Who consumes it.
        consumers: Vec<String>,
    }
    optional {}
);
entry!(
    /// A portal page for one persona.
    PortalPage, family = "portal_page",
    required {
        /// Who the page is for.
        persona: Persona,
        /// Page title.
        title: String,
    }
    optional {
        /// Markdown body.
        body: String,
        /// Markdown file, relative to the packet.
        file: String,
    }
);

/// Entitlement level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntitlementLevel {
    /// Whole product.
    Product,
    /// Per organization.
    Organization,
    /// Per project.
    Project,
}

impl EntitlementLevel {
    /// As packets spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntitlementLevel::Product => "product",
            EntitlementLevel::Organization => "organization",
            EntitlementLevel::Project => "project",
        }
    }
}

/// What an entitlement is where no scope sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntitlementDefault {
    /// Held until a scope withholds it.
    Granted,
    /// Not held until a scope grants it.
    Withheld,
}

/// How usage quantities combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Added up.
    Sum,
    /// The peak.
    Max,
    /// Number of events.
    Count,
}

/// Notification severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    Warning,
    /// Needs action now.
    Critical,
}

/// Kind of quota dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DimensionKind {
    /// Per time window.
    Rate,
    /// Per period.
    Quota,
    /// At once.
    Concurrency,
    /// Physical capacity held at once (GPUs, slots); refusals say `no_capacity`.
    Capacity,
}

impl DimensionKind {
    /// The name packets use.
    pub fn as_str(self) -> &'static str {
        match self {
            DimensionKind::Rate => "rate",
            DimensionKind::Quota => "quota",
            DimensionKind::Concurrency => "concurrency",
            DimensionKind::Capacity => "capacity",
        }
    }
}

/// Portal personas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persona {
    /// End user.
    User,
    /// Developer integrating the product.
    Developer,
    /// Operator running it.
    Operator,
    /// Security reviewer.
    Security,
    /// Product owner.
    Product,
    /// Architect.
    Architecture,
}

/// Product lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Being written.
    Draft,
    /// Registered; entries not all active yet.
    Onboarding,
    /// Live.
    Active,
    /// Still served, going away.
    Deprecated,
    /// Gone; entries fail closed.
    Retired,
}

/// `[product]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSection {
    /// Product id, the namespace of every entry id (`example`).
    pub id: String,
    /// URL slug (`example-product`).
    pub slug: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// What it is.
    pub description: Option<String>,
    /// Lifecycle the product reaches once its entries are active.
    pub lifecycle: Option<Lifecycle>,
    /// Who owns what.
    pub owners: Option<Owners>,
    /// Personas it serves.
    pub personas: Option<Vec<Persona>>,
    /// Who can reach it.
    pub exposure: Option<Exposure>,
}

/// `[product.owners]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owners {
    /// Product owner.
    pub product: Option<String>,
    /// Engineering owner.
    pub engineering: Option<String>,
    /// Operations owner.
    pub operations: Option<String>,
    /// Security owner.
    pub security: Option<String>,
}

/// `[product.exposure]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exposure {
    /// `internal`, `partner` or `external`.
    pub posture: Option<Posture>,
    /// `none`, `internal`, `partner` or `public`.
    pub docs_track: Option<DocsTrack>,
}

/// Exposure posture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Posture {
    /// Inside the organization.
    Internal,
    /// Named partners.
    Partner,
    /// Anyone.
    External,
}

/// Documentation track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocsTrack {
    /// No docs.
    None,
    /// Internal docs.
    Internal,
    /// Partner docs.
    Partner,
    /// Public docs.
    Public,
}

/// Who owns a declared thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// The product.
    Product,
    /// The platform.
    Platform,
    /// Both.
    Shared,
}

/// Route families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteFamily {
    /// Customer-facing.
    Public,
    /// Operators.
    Admin,
    /// Service to service.
    Internal,
    /// Read models.
    ReadModel,
}

/// A package and its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Source path.
    pub path: String,
    /// Owner.
    pub owner: Owner,
}

/// A route prefix and its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Route family.
    pub family: RouteFamily,
    /// Path prefix, e.g. `/v1`.
    pub prefix: String,
    /// Owner.
    pub owner: Owner,
}

/// A database schema and its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Postgres schema name.
    pub name: String,
    /// Owner.
    pub owner: Owner,
}

/// A portal page family and its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendSurface {
    /// Path prefix of the pages, e.g. `/example`.
    pub page_family: String,
    /// Owner.
    pub owner: Owner,
}

/// `[ownership]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ownership {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Source packages.
    pub packages: Option<Family<Package>>,
    /// HTTP route prefixes.
    pub routes: Option<Family<Route>>,
    /// Database schemas.
    pub schemas: Option<Family<Schema>>,
    /// Event subjects produced.
    pub events: Option<Family<EventSubject>>,
    /// Portal page families.
    pub frontend_surfaces: Option<Family<FrontendSurface>>,
}

/// `[iam]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Iam {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Scopes.
    pub scopes: Option<Family<Scope>>,
    /// Roles.
    pub roles: Option<Family<Role>>,
    /// Service accounts.
    pub service_accounts: Option<Family<ServiceAccount>>,
    /// Entitlements.
    pub entitlements: Option<Family<Entitlement>>,
}

/// `[billing]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Billing {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Where accepted usage comes from.
    pub usage_source: Option<String>,
    /// How usage is priced.
    pub rating_posture: Option<String>,
    /// Who owns the ledger entries and what they move.
    pub ledger_impact: Option<String>,
    /// Usage units.
    pub usage_units: Option<Family<UsageUnit>>,
    /// Resource types.
    pub resource_types: Option<Family<ResourceType>>,
}

/// `[audit]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// What readers of the audit trail expect to find.
    pub read_model: Option<String>,
    /// Product invariants the audit trail proves.
    pub invariants: Option<Vec<String>>,
    /// Audit actions.
    pub actions: Option<Family<AuditAction>>,
    /// Retention classes.
    pub retention_classes: Option<Family<RetentionClass>>,
}

/// `[evidence]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// What proves a release.
    pub release_proof: Option<String>,
    /// What proves user acceptance.
    pub uat_proof: Option<String>,
    /// Evidence types.
    pub types: Option<Family<EvidenceType>>,
}

/// `[status]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Service-level posture overall.
    pub slo_posture: Option<String>,
    /// Components.
    pub components: Option<Family<StatusComponent>>,
}

/// `[notifications]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// How unacknowledged notices escalate.
    pub escalation: Option<String>,
    /// Templates.
    pub templates: Option<Family<NotificationTemplate>>,
}

/// `[policy]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Where default limits come from.
    pub defaults: Option<String>,
    /// Quota dimensions.
    pub dimensions: Option<Family<QuotaDimension>>,
    /// Snapshot kinds.
    pub snapshot_kinds: Option<Family<SnapshotKind>>,
    /// Override scopes.
    pub override_scopes: Option<Family<OverrideScope>>,
}

/// `[secrets]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Credential purposes.
    pub purposes: Option<Family<SecretPurpose>>,
}

/// `[portal]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Pages.
    pub pages: Option<Family<PortalPage>>,
}

/// Extraction posture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractionPosture {
    /// Stays in process.
    Keep,
    /// Moves work to a separate worker.
    Split,
    /// Becomes its own service.
    Extract,
}

/// `[extraction]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extraction {
    /// Set instead of the rest when the section does not apply.
    pub not_applicable: Option<NotApplicable>,
    /// Decision.
    pub posture: Option<ExtractionPosture>,
    /// Why.
    pub reason: Option<String>,
    /// What stands in the way of extracting.
    pub blockers: Option<Vec<String>>,
    /// What would force an extraction.
    pub triggers: Option<Vec<String>>,
}
