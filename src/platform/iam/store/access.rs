//! Resolving targets and the scopes a caller holds there: people by their grants
//! (`grants.rs`), keys by the one key-scope rule (`reach.rs`).

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{org_memberships, organizations, projects};
use super::super::{
    Access, Caller, Holdings, IamError, Organization, Place, Principal, Project, Target,
};
use super::PgIam;
use super::reach::{key_reach, scope_active};
use super::rows::{OrganizationRow, ProjectRow};

#[async_trait::async_trait]
impl Access for PgIam {
    async fn authorize(
        &self,
        caller: &Caller,
        scope: &str,
        target: Target,
    ) -> Result<Place, IamError> {
        // An API key's request is placed and decided from memory: no database round trip.
        if let Caller::Key(principal) = caller {
            return self.authorize_key(principal, scope, &target);
        }
        // So is the console at platform scope (a product metering usage, say): there is
        // nothing to resolve, and the console holds everything.
        if let (Caller::Console(_), Target::Platform) = (caller, &target) {
            return holding(Place::default(), &console_holdings(), scope, &target);
        }
        let (caller, scope) = (caller.clone(), scope.to_owned());
        self.on_pool(move |this, conn| this.authorize_on(conn, &caller, &scope, &target))
            .await
    }

    async fn holdings(
        &self,
        caller: &Caller,
        target: Target,
    ) -> Result<(Place, Holdings), IamError> {
        if let Caller::Key(principal) = caller {
            return self.key_place(principal, &target);
        }
        if let (Caller::Console(_), Target::Platform) = (caller, &target) {
            return Ok((Place::default(), console_holdings()));
        }
        let caller = caller.clone();
        self.on_pool(move |this, conn| this.place_on(conn, &caller, &target))
            .await
    }

    async fn visible_organizations(&self, caller: &Caller) -> Result<Vec<Organization>, IamError> {
        let caller = caller.clone();
        self.on_pool(move |this, conn| this.visible_organizations_on(conn, &caller))
            .await
    }
}

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

impl PgIam {
    /// What `caller` holds at `place`.
    pub(super) fn holdings_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        place: &Place,
    ) -> Result<Holdings, IamError> {
        match caller {
            Caller::Console(_) => Ok(console_holdings()),
            Caller::Key(principal) => Ok(self.key_holdings(principal, place)),
            Caller::User(user) => Ok(self.user_holdings_on(conn, user.id, place)?),
        }
    }

    /// A key's holdings, by the one key-scope rule ([`key_reach`]) decisions follow too.
    fn key_holdings(&self, principal: &Principal, place: &Place) -> Holdings {
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

    /// Where an API key's target is and what the key holds there, from memory alone: the
    /// tenancy snapshot places the target, the one key-scope rule decides. The same answers
    /// as [`PgIam::place_on`] gives keys, without its database round trip.
    pub(super) fn key_place(
        &self,
        principal: &Principal,
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
        principal: &Principal,
        scope: &str,
        target: &Target,
    ) -> Result<Place, IamError> {
        let (place, holdings) = self.key_place(principal, target)?;
        holding(place, &holdings, scope, target)
    }

    /// Resolves `target` and what `caller` holds there; invisible targets are not found.
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

/// The console (an administrator at the machine, or the platform itself) holds everything.
fn console_holdings() -> Holdings {
    Holdings {
        visible: true,
        platform_wide: true,
        everything: true,
        ..Holdings::default()
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
