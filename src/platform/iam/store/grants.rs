//! What a user holds by their grants: platform roles, memberships and role bindings, each a
//! registry role whose active scopes it puts in effect. User keys are narrowed by the same
//! grants, so a key never outlasts what its user holds.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use uuid::Uuid;

use super::super::members::{org_role_id, project_role_id};
use super::super::schema::{org_memberships, platform_roles, project_memberships, role_bindings};
use super::super::{Holdings, Place};
use super::PgIam;
use super::reach::scope_active;
use super::read_model::KeyEntry;
use crate::platform::registry::Registry;

/// Registry roles a user holds at a place, with their membership roles.
struct Grants {
    platform: Vec<String>,
    org_role: Option<String>,
    project_role: Option<String>,
    bound: Vec<String>,
}

/// The organization role `user` holds at `place`, whether they act in person or by key.
pub(super) fn org_role_of(
    conn: &mut PgConnection,
    user: Uuid,
    place: &Place,
) -> QueryResult<Option<String>> {
    Ok(grants(conn, user, place)?.org_role)
}

fn grants(conn: &mut PgConnection, user: Uuid, place: &Place) -> QueryResult<Grants> {
    let org = place.organization.as_ref().map(|o| o.id);
    let project = place.project.as_ref().map(|p| p.id);
    grants_at(conn, user, org, project)
}

fn grants_at(
    conn: &mut PgConnection,
    user: Uuid,
    org: Option<Uuid>,
    project: Option<Uuid>,
) -> QueryResult<Grants> {
    let platform = platform_roles::table
        .filter(platform_roles::user_id.eq(user))
        .select(platform_roles::role)
        .load(conn)?;
    let mut grants = Grants {
        platform,
        org_role: None,
        project_role: None,
        bound: Vec::new(),
    };
    let Some(org) = org else {
        return Ok(grants);
    };
    grants.org_role = org_memberships::table
        .find((org, user))
        .select(org_memberships::role)
        .first(conn)
        .optional()?;
    if let Some(project) = project {
        grants.project_role = project_memberships::table
            .find((project, user))
            .select(project_memberships::role)
            .first(conn)
            .optional()?;
    }
    grants.bound = role_bindings::table
        .filter(role_bindings::organization_id.eq(org))
        .filter(role_bindings::user_id.eq(user))
        .filter(
            role_bindings::project_id
                .is_null()
                .or(role_bindings::project_id.nullable().eq(project)),
        )
        .select(role_bindings::role)
        .load(conn)?;
    Ok(grants)
}

/// Active scopes of an active registry role; an unknown or inactive role grants nothing.
fn role_scopes(registry: &dyn Registry, role: &str) -> Vec<String> {
    let Some(entry) = registry.active_entry("role", role) else {
        return Vec::new();
    };
    let active = scope_active(registry);
    entry.attributes["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
        .filter(|s| active(s))
        .map(str::to_owned)
        .collect()
}

impl Grants {
    /// Every registry role these grants put in effect.
    fn roles(&self) -> impl Iterator<Item = String> + '_ {
        self.platform
            .iter()
            .cloned()
            .chain(self.org_role.iter().map(|r| org_role_id(r)))
            .chain(self.project_role.iter().map(|r| project_role_id(r)))
            .chain(self.bound.iter().cloned())
    }
}

/// What `at.0` (a user) holds in organization `at.1` (or its project `at.2`), computed once
/// per load.
fn held_at<'a>(
    conn: &mut PgConnection,
    registry: &dyn Registry,
    held: &'a mut HashMap<(Uuid, Uuid, Option<Uuid>), BTreeSet<String>>,
    at: (Uuid, Uuid, Option<Uuid>),
) -> QueryResult<&'a BTreeSet<String>> {
    if let std::collections::hash_map::Entry::Vacant(slot) = held.entry(at) {
        let grants = grants_at(conn, at.0, Some(at.1), at.2)?;
        let roles = grants.roles().collect::<Vec<_>>();
        slot.insert(
            roles
                .iter()
                .flat_map(|r| role_scopes(registry, r))
                .collect(),
        );
    }
    Ok(&held[&at])
}

/// Narrows each user key to the scopes its user still holds in the key's project, so a
/// demotion or a removed binding shrinks the user's keys too (they were a subset at issue).
pub fn narrow_user_keys(
    conn: &mut PgConnection,
    registry: &dyn Registry,
    keys: &mut HashMap<String, KeyEntry>,
) -> QueryResult<()> {
    let mut held: HashMap<(Uuid, Uuid, Option<Uuid>), BTreeSet<String>> = HashMap::new();
    for entry in keys.values_mut().filter(|e| e.principal.kind == "user") {
        let p = &mut entry.principal;
        let in_project = held_at(
            conn,
            registry,
            &mut held,
            (p.id, p.organization_id, Some(p.project_id)),
        )?;
        p.scopes.retain(|s| in_project.contains(s));
        let in_organization = held_at(conn, registry, &mut held, (p.id, p.organization_id, None))?;
        p.organization_scopes
            .retain(|s| in_organization.contains(s));
    }
    Ok(())
}

impl PgIam {
    /// Active scopes of an active registry role.
    pub(super) fn role_scopes(&self, role: &str) -> Vec<String> {
        role_scopes(self.registry.as_ref(), role)
    }

    /// What `user`, acting in person, holds at `place`.
    pub(super) fn user_holdings_on(
        &self,
        conn: &mut PgConnection,
        user: Uuid,
        place: &Place,
    ) -> QueryResult<Holdings> {
        let grants = grants(conn, user, place)?;
        Ok(self.user_holdings(grants, place))
    }

    fn with_roles(
        &self,
        mut holdings: Holdings,
        roles: impl IntoIterator<Item = String>,
    ) -> Holdings {
        for role in roles {
            holdings.scopes.extend(self.role_scopes(&role));
            holdings.roles.insert(role);
        }
        holdings
    }

    fn user_holdings(&self, grants: Grants, place: &Place) -> Holdings {
        let platform_wide = !grants.platform.is_empty();
        let suspended = place
            .organization
            .as_ref()
            .is_some_and(|o| o.state != "active");
        let mut holdings = Holdings {
            visible: platform_wide || grants.org_role.is_some(),
            platform_wide,
            org_role: grants.org_role.clone(),
            project_role: grants.project_role.clone(),
            ..Holdings::default()
        };
        holdings = self.with_roles(holdings, grants.platform);
        // A suspended organization's members keep sight of it but can do nothing in it.
        if suspended {
            return holdings;
        }
        let membership_roles = grants
            .org_role
            .iter()
            .map(|r| org_role_id(r))
            .chain(grants.project_role.iter().map(|r| project_role_id(r)));
        let roles: Vec<String> = membership_roles.chain(grants.bound).collect();
        self.with_roles(holdings, roles)
    }
}
