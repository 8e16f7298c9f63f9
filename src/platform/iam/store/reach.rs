//! The one key-scope rule: what an API key holds at a place. Decisions
//! ([`crate::platform::iam::Keys::decide`]) and route authorization
//! ([`crate::platform::iam::Access`]) both ask [`key_reach`], from memory, so they cannot
//! disagree.

use uuid::Uuid;

use super::super::{PLATFORM_SCOPE_MARKER, Principal};
use crate::platform::registry::Registry;

/// What a key holds at one place, before the registry has its say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reach<'a> {
    /// Whether the key may act there at all.
    pub visible: bool,
    /// Whether it acts with platform-wide authority (it holds `platform.admin`).
    pub platform_wide: bool,
    /// The key's scopes that apply there; none where it is not visible.
    pub scopes: &'a [String],
}

/// Why a key may not use a scope at a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The place is out of the key's reach.
    OtherTenant,
    /// The key does not hold the scope there.
    NotHeld,
    /// The key holds it, but the registry has no such active scope.
    Inactive,
}

/// The key-scope rule, written once:
///
/// - A **platform-wide key** (one holding `platform.admin`, minted by an administrator)
///   reaches every place — the platform itself, every organization, every project — and
///   holds its issued scopes at each of them.
/// - Any **other key** reaches only its own organization and its own project. At its
///   project (a project-level target) it holds its project scopes; at its organization as a
///   whole (an organization-level target) its organization scopes, which a service
///   account's key does not have and a user key has within what its user holds there.
///   The platform, other organizations and other projects are out of reach.
/// - Out of reach, a key holds nothing.
/// - Of what a key holds, only scopes the registry has active count ([`scope_active`]).
///
/// `organization` is `None` for the platform; `project` is `Some` for project-level targets.
pub(super) fn key_reach(
    principal: &Principal,
    organization: Option<Uuid>,
    project: Option<Uuid>,
) -> Reach<'_> {
    let platform_wide = principal.scopes.iter().any(|s| s == PLATFORM_SCOPE_MARKER);
    let own_org = organization == Some(principal.organization_id);
    let (visible, scopes) = match project {
        _ if platform_wide => (true, &principal.scopes),
        None => (own_org, &principal.organization_scopes),
        Some(project) => (
            own_org && project == principal.project_id,
            &principal.scopes,
        ),
    };
    Reach {
        visible,
        platform_wide,
        scopes: if visible { scopes } else { &[] },
    }
}

/// The one registry-activity rule, for key scopes and role scopes alike: a scope counts
/// only while the registry has it active (unknown, draft or retired scopes fail closed).
pub(super) fn scope_active(registry: &dyn Registry) -> impl Fn(&str) -> bool + '_ {
    move |scope| registry.is_active("scope", scope)
}

impl Reach<'_> {
    /// Whether `scope` may be used here, with `active` saying which scopes count.
    pub fn check(&self, scope: &str, active: impl Fn(&str) -> bool) -> Result<(), Refusal> {
        if !self.visible {
            return Err(Refusal::OtherTenant);
        }
        if !self.scopes.iter().any(|s| s == scope) {
            return Err(Refusal::NotHeld);
        }
        match active(scope) {
            true => Ok(()),
            false => Err(Refusal::Inactive),
        }
    }

    /// The scopes that count here, with `active` saying which do.
    pub fn active_scopes(
        &self,
        active: impl Fn(&str) -> bool,
    ) -> std::collections::BTreeSet<String> {
        self.scopes.iter().filter(|s| active(s)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: Uuid = Uuid::from_u128(1);
    const PROJECT: Uuid = Uuid::from_u128(2);
    const OTHER_ORG: Uuid = Uuid::from_u128(3);
    const OTHER_PROJECT: Uuid = Uuid::from_u128(4);

    fn key(scopes: &[&str], organization_scopes: &[&str]) -> Principal {
        let owned = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect();
        Principal {
            kind: "service_account",
            id: Uuid::from_u128(9),
            organization_id: ORG,
            department_id: Uuid::from_u128(8),
            project_id: PROJECT,
            key_prefix: "p".into(),
            scopes: owned(scopes),
            organization_scopes: owned(organization_scopes),
            model_allowlist: None,
        }
    }

    fn all_active(_: &str) -> bool {
        true
    }

    #[test]
    fn an_ordinary_key_holds_its_project_scopes_in_its_project() {
        let k = key(&["tf.inference"], &[]);

        let reach = key_reach(&k, Some(ORG), Some(PROJECT));

        assert!(reach.visible && !reach.platform_wide);
        assert_eq!(reach.check("tf.inference", all_active), Ok(()));
    }

    #[test]
    fn an_ordinary_key_holds_only_its_organization_scopes_for_its_organization() {
        let service_account = key(&["tf.inference"], &[]);
        let user = key(&["tf.inference", "iam.read"], &["iam.read"]);

        let sa_reach = key_reach(&service_account, Some(ORG), None);
        let user_reach = key_reach(&user, Some(ORG), None);

        assert!(sa_reach.visible);
        assert_eq!(
            sa_reach.check("tf.inference", all_active),
            Err(Refusal::NotHeld)
        );
        assert_eq!(user_reach.check("iam.read", all_active), Ok(()));
        assert_eq!(
            user_reach.check("tf.inference", all_active),
            Err(Refusal::NotHeld)
        );
    }

    #[test]
    fn an_ordinary_key_reaches_nothing_outside_its_organization_and_project() {
        let k = key(&["tf.inference"], &["tf.inference"]);

        let places = [
            (None, None),
            (Some(OTHER_ORG), None),
            (Some(OTHER_ORG), Some(OTHER_PROJECT)),
            (Some(ORG), Some(OTHER_PROJECT)),
            (Some(OTHER_ORG), Some(PROJECT)),
        ];

        for (org, project) in places {
            let reach = key_reach(&k, org, project);
            assert!(!reach.visible, "{org:?}/{project:?}");
            assert!(reach.scopes.is_empty());
            assert_eq!(
                reach.check("tf.inference", all_active),
                Err(Refusal::OtherTenant)
            );
        }
    }

    #[test]
    fn a_platform_wide_key_holds_its_scopes_at_every_place() {
        let k = key(&[PLATFORM_SCOPE_MARKER, "iam.read"], &[]);

        let places = [
            (None, None),
            (Some(ORG), None),
            (Some(ORG), Some(PROJECT)),
            (Some(OTHER_ORG), None),
            (Some(OTHER_ORG), Some(OTHER_PROJECT)),
        ];

        for (org, project) in places {
            let reach = key_reach(&k, org, project);
            assert!(reach.visible && reach.platform_wide, "{org:?}/{project:?}");
            assert_eq!(reach.check("iam.read", all_active), Ok(()));
            assert_eq!(reach.check("iam.write", all_active), Err(Refusal::NotHeld));
        }
    }

    #[test]
    fn only_active_scopes_count() {
        let k = key(&["tf.inference", "tf.retired"], &[]);
        let active = |s: &str| s != "tf.retired";

        let reach = key_reach(&k, Some(ORG), Some(PROJECT));

        assert_eq!(reach.check("tf.retired", active), Err(Refusal::Inactive));
        assert_eq!(reach.check("tf.inference", active), Ok(()));
        assert_eq!(
            reach.active_scopes(active).into_iter().collect::<Vec<_>>(),
            ["tf.inference"]
        );
    }
}
