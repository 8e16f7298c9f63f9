//! The rules every access change follows (memberships, role bindings, invitations): who
//! may grant what where, whom a change may be about, and that an organization keeps an
//! owner.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{org_memberships, organizations};
use super::super::{Caller, Holdings, IamError, Organization, Place, Project, User};
use super::PgIam;
use super::accounts::{to_user, user_by_email};

const WRITE: &str = "platform.iam.write";
const ORG_MANAGE: &str = "platform.org.manage";
pub(super) const OWNER: &str = "owner";

pub(super) fn check_role(
    field: &'static str,
    role: &str,
    allowed: &[&str],
) -> Result<(), IamError> {
    match allowed.contains(&role) {
        true => Ok(()),
        false => Err(IamError::Invalid {
            field,
            reason: format!("`{role}` is not one of {}", allowed.join(", ")),
        }),
    }
}

pub(super) fn place(org: &Organization, project: Option<&Project>) -> Place {
    Place {
        organization: Some(org.clone()),
        project: project.cloned(),
    }
}

pub(super) fn user_named(conn: &mut PgConnection, email: &str) -> Result<User, IamError> {
    let (row, _) = user_by_email(conn, email)?
        .ok_or_else(|| IamError::NotFound(format!("no user `{email}`")))?;
    Ok(to_user(conn, row)?)
}

/// The person an access change in `org` is about, and their organization role. A tenant
/// changes only its own members' access (anyone else joins by accepting an invitation) and
/// is told the same whether or not an account exists for `email`; the platform may name
/// any account, and is told when there is none.
pub(super) fn grantee(
    conn: &mut PgConnection,
    org: &Organization,
    email: &str,
    holdings: &Holdings,
) -> Result<(User, Option<String>), IamError> {
    let not_member = || {
        IamError::NotFound(format!(
            "`{email}` is not a member of `{}`; invite them to join it",
            org.slug
        ))
    };
    let user = match user_named(conn, email) {
        Ok(user) => user,
        Err(IamError::NotFound(_)) if !holdings.platform_wide => return Err(not_member()),
        Err(other) => return Err(other),
    };
    let role: Option<String> = org_memberships::table
        .find((org.id, user.id))
        .select(org_memberships::role)
        .first(conn)
        .optional()?;
    match (&role, holdings.platform_wide) {
        (None, false) => Err(not_member()),
        _ => Ok((user, role)),
    }
}

/// Members of the organization who are owners, locking the organization row so two
/// demotions cannot both pass the last-owner check.
fn owners(conn: &mut PgConnection, org: Uuid) -> QueryResult<Vec<Uuid>> {
    organizations::table
        .find(org)
        .select(organizations::id)
        .for_update()
        .first::<Uuid>(conn)?;
    org_memberships::table
        .filter(org_memberships::organization_id.eq(org))
        .filter(org_memberships::role.eq(OWNER))
        .select(org_memberships::user_id)
        .load(conn)
}

pub(super) fn keep_an_owner(
    conn: &mut PgConnection,
    org: &Organization,
    leaving: Uuid,
) -> Result<(), IamError> {
    let owners = owners(conn, org.id)?;
    match owners.as_slice() {
        [only] if *only == leaving => Err(IamError::Conflict(format!(
            "organization `{}` must keep at least one owner; make someone else owner first",
            org.slug
        ))),
        _ => Ok(()),
    }
}

impl PgIam {
    /// Checks `caller` may change access at `place`, and may hand out `roles`: nobody grants
    /// scopes they lack, except an owner of the organization or the platform itself.
    pub(super) fn may_grant(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        place: &Place,
        roles: &[String],
    ) -> Result<Holdings, IamError> {
        let holdings = self.holdings_on(conn, caller, place)?;
        let target = place_name(place);
        if !holdings.visible {
            return Err(IamError::NotFound(format!("no {target}")));
        }
        if !holdings.holds(WRITE) {
            return Err(IamError::Forbidden(format!(
                "you lack the `{WRITE}` scope in {target}"
            )));
        }
        if is_root(&holdings) {
            return Ok(holdings);
        }
        for role in roles {
            if let Some(scope) = self
                .role_scopes(role)
                .into_iter()
                .find(|s| !holdings.holds(s))
            {
                return Err(IamError::Forbidden(format!(
                    "`{role}` grants `{scope}`, which you do not hold in {target}"
                )));
            }
        }
        Ok(holdings)
    }
}

/// The organization's owner or the platform: the tenant's root, who may grant anything in it.
pub(super) fn is_root(holdings: &Holdings) -> bool {
    holdings.org_role.as_deref() == Some(OWNER) || is_platform_manager(holdings)
}

fn is_platform_manager(holdings: &Holdings) -> bool {
    holdings.platform_wide && holdings.holds(ORG_MANAGE)
}

fn place_name(place: &Place) -> String {
    match (&place.organization, &place.project) {
        (Some(o), Some(p)) => format!("project `{}/{}`", o.slug, p.slug),
        (Some(o), None) => format!("organization `{}`", o.slug),
        _ => "the platform".into(),
    }
}
