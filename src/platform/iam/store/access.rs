//! Resolving targets and the scopes a caller holds there, from memberships and registry roles.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use uuid::Uuid;

use super::super::members::{org_role_id, project_role_id};
use super::super::schema::{
    org_memberships, organizations, platform_roles, project_memberships, projects, role_bindings,
};
use super::super::{Caller, Holdings, IamError, Organization, Place, Project, Target};
use super::PgIam;
use super::reach::{key_reach, scope_active};
use super::read_model::KeyEntry;
use super::rows::{OrganizationRow, ProjectRow};
use crate::platform::registry::Registry;

/// Resolves a target to rows; missing ones are reported as the caller would see them.
pub fn resolve(conn: &mut PgConnection, target: &Target) -> Result<Place, IamError> {
    let (org_slug, project_slug) = match target {
        Target::Platform => return Ok(Place::default()),
        Target::Organization(org) => (org, None),
        Target::Project(org, project) => (org, Some(project)),
    };
    let org: Organization = organizations::table
        .filter(organizations::slug.eq(org_slug))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(&Target::org(org_slug)))?
        .into();
    let project = match project_slug {
        None => None,
        Some(slug) => Some(Project::from(
            projects::table
                .filter(projects::organization_id.eq(org.id))
                .filter(projects::slug.eq(slug))
                .select(ProjectRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| not_found(target))?,
        )),
    };
    Ok(Place {
        organization: Some(org),
        project,
    })
}

/// The same answer for "does not exist" and "exists but not for you".
pub fn not_found(target: &Target) -> IamError {
    IamError::NotFound(match target {
        Target::Platform => "not found".into(),
        Target::Organization(org) => format!("no organization `{org}`"),
        Target::Project(org, project) => format!("no project `{org}/{project}`"),
    })
}

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

    /// What `caller` holds at `place`.
    pub(super) fn holdings_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        place: &Place,
    ) -> Result<Holdings, IamError> {
        match caller {
            Caller::Console(_) => Ok(Holdings {
                visible: true,
                platform_wide: true,
                everything: true,
                ..Holdings::default()
            }),
            Caller::Key(principal) => Ok(self.key_holdings(principal, place)),
            Caller::User(user) => {
                let grants = grants(conn, user.id, place)?;
                Ok(self.user_holdings(grants, place))
            }
        }
    }

    /// A key's holdings, by the one key-scope rule ([`key_reach`]) decisions follow too.
    fn key_holdings(&self, principal: &super::super::Principal, place: &Place) -> Holdings {
        let organization = place.organization.as_ref().map(|o| o.id);
        let project = place.project.as_ref().map(|p| p.id);
        let reach = key_reach(principal, organization, project);
        Holdings {
            visible: reach.visible,
            platform_wide: reach.platform_wide,
            scopes: reach.active_scopes(scope_active(self.registry.as_ref())),
            ..Holdings::default()
        }
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

    /// Resolves `target` and what `caller` holds there; invisible targets are not found.
    /// Where an API key's target is and what the key holds there, from memory alone: the
    /// tenancy snapshot places the target, the one key-scope rule decides. The same answers
    /// as [`PgIam::place_on`] gives keys, without its database round trip.
    pub(super) fn key_place(
        &self,
        principal: &super::super::Principal,
        target: &Target,
    ) -> Result<(Place, Holdings), IamError> {
        let place = self.places.get().resolve(target)?;
        let holdings = self.key_holdings(principal, &place);
        if !holdings.visible {
            let org_only = Place {
                organization: place.organization.clone(),
                project: None,
            };
            return Err(unseen(
                target,
                self.key_holdings(principal, &org_only).visible,
            ));
        }
        Ok((place, holdings))
    }

    /// `authorize` for an API key, from memory alone.
    pub(super) fn authorize_key(
        &self,
        principal: &super::super::Principal,
        scope: &str,
        target: &Target,
    ) -> Result<Place, IamError> {
        let (place, holdings) = self.key_place(principal, target)?;
        holding(place, &holdings, scope, target)
    }

    pub(super) fn place_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        target: &Target,
    ) -> Result<(Place, Holdings), IamError> {
        let place = resolve(conn, target)?;
        let holdings = self.holdings_on(conn, caller, &place)?;
        if !holdings.visible {
            let org_visible = match (target, &place.organization) {
                (Target::Project(..), Some(org)) => self.org_visible(conn, caller, org)?,
                _ => true,
            };
            return Err(unseen(target, org_visible));
        }
        Ok((place, holdings))
    }

    fn org_visible(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
    ) -> Result<bool, IamError> {
        let place = Place {
            organization: Some(org.clone()),
            project: None,
        };
        Ok(self.holdings_on(conn, caller, &place)?.visible)
    }

    /// Runs `work` in one transaction once `caller` holds `scope` at `target`, handing it
    /// the audit actor `caller` is: the way every privileged operation authorizes inside
    /// the module, whatever its adapter checked.
    pub(super) fn authorized_on<T>(
        &self,
        conn: &mut PgConnection,
        (caller, scope, target): (&Caller, &str, &Target),
        work: impl FnOnce(&mut PgConnection, crate::platform::audit::Actor) -> Result<T, IamError>,
    ) -> Result<T, IamError> {
        conn.transaction(|conn| {
            self.authorize_on(conn, caller, scope, target)?;
            work(conn, caller.actor())
        })
    }

    pub(super) fn authorize_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        scope: &str,
        target: &Target,
    ) -> Result<Place, IamError> {
        let (place, holdings) = self.place_on(conn, caller, target)?;
        holding(place, &holdings, scope, target)
    }

    pub(super) fn visible_organizations_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
    ) -> Result<Vec<Organization>, IamError> {
        let platform = self.holdings_on(conn, caller, &Place::default())?;
        let all: Vec<OrganizationRow> = match (caller, platform.holds("platform.iam.read")) {
            (_, true) => organizations::table
                .order(organizations::slug)
                .select(OrganizationRow::as_select())
                .load(conn)?,
            (Caller::Key(p), false) => organizations::table
                .filter(organizations::id.eq(p.organization_id))
                .select(OrganizationRow::as_select())
                .load(conn)?,
            (_, false) => {
                let user = caller.user_id().unwrap_or_else(Uuid::nil);
                organizations::table
                    .inner_join(org_memberships::table)
                    .filter(org_memberships::user_id.eq(user))
                    .order(organizations::slug)
                    .select(OrganizationRow::as_select())
                    .load(conn)?
            }
        };
        Ok(all.into_iter().map(Organization::from).collect())
    }
}

/// The answer for a target the caller cannot see: the platform itself is a 403; anything
/// else is not found, naming the outermost thing they cannot see, as if it did not exist.
fn unseen(target: &Target, org_visible: bool) -> IamError {
    match target {
        Target::Platform => {
            IamError::Forbidden("this needs platform-wide authority, which you do not have".into())
        }
        Target::Project(org, _) if !org_visible => not_found(&Target::org(org)),
        _ => not_found(target),
    }
}

/// `place`, once `holdings` there carry `scope`.
fn holding(
    place: Place,
    holdings: &Holdings,
    scope: &str,
    target: &Target,
) -> Result<Place, IamError> {
    match holdings.holds(scope) {
        true => Ok(place),
        false => Err(IamError::Forbidden(format!(
            "you lack the `{scope}` scope {}",
            where_(target)
        ))),
    }
}

fn where_(target: &Target) -> String {
    match target {
        Target::Platform => "at platform scope".into(),
        Target::Organization(org) => format!("in organization `{org}`"),
        Target::Project(org, project) => format!("in project `{org}/{project}`"),
    }
}
