//! Walks every family of a packet in one place, so review, validation and storage never
//! list the families separately (and cannot disagree about which exist).

use super::packet::{Entry, Family, Packet};

/// Receives each family of a packet, in dependency order (referenced families first).
pub trait FamilyVisitor {
    /// A family of registry entries at `section.field`.
    fn entries<T: Entry>(
        &mut self,
        section: &'static str,
        field: &'static str,
        family: Option<&Family<T>>,
    );
    /// A family of ownership declarations (no ids; stored with the product).
    fn declarations<T: serde::Serialize>(
        &mut self,
        section: &'static str,
        field: &'static str,
        family: Option<&Family<T>>,
    );
}

/// Registry families in the order they must activate: referenced before referencing.
pub const FAMILY_ORDER: &[&str] = &[
    "retention_class",
    "scope",
    "resource_type",
    "usage_unit",
    "role",
    "service_account",
    "entitlement",
    "audit_action",
    "evidence_type",
    "status_component",
    "notification_template",
    "quota_dimension",
    "snapshot_kind",
    "override_scope",
    "secret_purpose",
    "event_subject",
    "portal_page",
];

impl Packet {
    /// Calls `v` for every family, in [`FAMILY_ORDER`] for entry families.
    pub fn visit(&self, v: &mut impl FamilyVisitor) {
        let audit = self.audit.as_ref();
        let iam = self.iam.as_ref();
        let billing = self.billing.as_ref();
        let policy = self.policy.as_ref();
        let ownership = self.ownership.as_ref();
        v.entries(
            "audit",
            "retention_classes",
            audit.and_then(|s| s.retention_classes.as_ref()),
        );
        v.entries("iam", "scopes", iam.and_then(|s| s.scopes.as_ref()));
        v.entries(
            "billing",
            "resource_types",
            billing.and_then(|s| s.resource_types.as_ref()),
        );
        v.entries(
            "billing",
            "usage_units",
            billing.and_then(|s| s.usage_units.as_ref()),
        );
        v.entries("iam", "roles", iam.and_then(|s| s.roles.as_ref()));
        v.entries(
            "iam",
            "service_accounts",
            iam.and_then(|s| s.service_accounts.as_ref()),
        );
        v.entries(
            "iam",
            "entitlements",
            iam.and_then(|s| s.entitlements.as_ref()),
        );
        v.entries("audit", "actions", audit.and_then(|s| s.actions.as_ref()));
        v.entries(
            "evidence",
            "types",
            self.evidence.as_ref().and_then(|s| s.types.as_ref()),
        );
        v.entries(
            "status",
            "components",
            self.status.as_ref().and_then(|s| s.components.as_ref()),
        );
        v.entries(
            "notifications",
            "templates",
            self.notifications
                .as_ref()
                .and_then(|s| s.templates.as_ref()),
        );
        v.entries(
            "policy",
            "dimensions",
            policy.and_then(|s| s.dimensions.as_ref()),
        );
        v.entries(
            "policy",
            "snapshot_kinds",
            policy.and_then(|s| s.snapshot_kinds.as_ref()),
        );
        v.entries(
            "policy",
            "override_scopes",
            policy.and_then(|s| s.override_scopes.as_ref()),
        );
        v.entries(
            "secrets",
            "purposes",
            self.secrets.as_ref().and_then(|s| s.purposes.as_ref()),
        );
        v.entries(
            "ownership",
            "events",
            ownership.and_then(|s| s.events.as_ref()),
        );
        v.entries(
            "portal",
            "pages",
            self.portal.as_ref().and_then(|s| s.pages.as_ref()),
        );
        v.declarations(
            "ownership",
            "packages",
            ownership.and_then(|s| s.packages.as_ref()),
        );
        v.declarations(
            "ownership",
            "routes",
            ownership.and_then(|s| s.routes.as_ref()),
        );
        v.declarations(
            "ownership",
            "schemas",
            ownership.and_then(|s| s.schemas.as_ref()),
        );
        v.declarations(
            "ownership",
            "frontend_surfaces",
            ownership.and_then(|s| s.frontend_surfaces.as_ref()),
        );
    }

    /// The `not_applicable` of section `name`, if the whole section is not applicable.
    pub fn section_not_applicable(&self, name: &str) -> Option<&super::packet::NotApplicable> {
        match name {
            "ownership" => self.ownership.as_ref()?.not_applicable.as_ref(),
            "iam" => self.iam.as_ref()?.not_applicable.as_ref(),
            "billing" => self.billing.as_ref()?.not_applicable.as_ref(),
            "audit" => self.audit.as_ref()?.not_applicable.as_ref(),
            "evidence" => self.evidence.as_ref()?.not_applicable.as_ref(),
            "status" => self.status.as_ref()?.not_applicable.as_ref(),
            "notifications" => self.notifications.as_ref()?.not_applicable.as_ref(),
            "policy" => self.policy.as_ref()?.not_applicable.as_ref(),
            "secrets" => self.secrets.as_ref()?.not_applicable.as_ref(),
            "portal" => self.portal.as_ref()?.not_applicable.as_ref(),
            "extraction" => self.extraction.as_ref()?.not_applicable.as_ref(),
            _ => None,
        }
    }

    /// Whether section `name` is present at all.
    pub fn has_section(&self, name: &str) -> bool {
        match name {
            "product" => true,
            "ownership" => self.ownership.is_some(),
            "iam" => self.iam.is_some(),
            "billing" => self.billing.is_some(),
            "audit" => self.audit.is_some(),
            "evidence" => self.evidence.is_some(),
            "status" => self.status.is_some(),
            "notifications" => self.notifications.is_some(),
            "policy" => self.policy.is_some(),
            "secrets" => self.secrets.is_some(),
            "portal" => self.portal.is_some(),
            "extraction" => self.extraction.is_some(),
            _ => false,
        }
    }
}
