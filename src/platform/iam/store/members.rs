//! Organization and project memberships, and the escalation rules every access change
//! follows (also used by role bindings and invitations), each change audited in its transaction.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::members::{ORG_ROLES, PROJECT_ROLES, org_role_id, project_role_id};
use super::super::schema::{org_memberships, organizations, project_memberships, users};
use super::super::{Caller, Holdings, IamError, Member, Organization, Place, Project, User};
use super::PgIam;
use super::people::user_by_email;
use super::read_model::CHANNEL;
use crate::platform::audit::NewEvent;

const MEMBERSHIP_GRANTED: &str = "platform.membership.granted";
const MEMBERSHIP_REVOKED: &str = "platform.membership.revoked";
const WRITE: &str = "platform.iam.write";
const ORG_MANAGE: &str = "platform.org.manage";
pub(super) const OWNER: &str = "owner";
/// Event subject for every access change, declared by the platform's packet.
const MEMBERSHIP_CHANGED: &str = "platform.iam.membership_changed";

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
    Ok(super::people::to_user(conn, row)?)
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

fn keep_an_owner(
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

pub(super) fn to_member(user: &User, role: String, created_at: OffsetDateTime) -> Member {
    Member {
        user_id: user.id,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role,
        created_at,
        email_verified: user.email_verified,
    }
}

type MemberRow = (
    Uuid,
    String,
    String,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
);

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

    pub(super) fn audit_member(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        action: &str,
        target: (&str, String),
        place: &Place,
        details: serde_json::Value,
    ) -> Result<(), IamError> {
        let mut event = NewEvent::new(caller.actor(), action, target.0, &target.1);
        event.organization_id = place.organization.as_ref().map(|o| o.id);
        event.department_id = place.project.as_ref().map(|p| p.department_id);
        event.project_id = place.project.as_ref().map(|p| p.id);
        event.details = details.clone();
        self.audit.append_in(conn, event)?;
        // Membership decides which user keys still work.
        diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
        let payload = json!({
            "change": action,
            "target": &target.1,
            "organization_id": place.organization.as_ref().map(|o| o.id),
            "project_id": place.project.as_ref().map(|p| p.id),
            "details": details,
        });
        self.announce(conn, MEMBERSHIP_CHANGED, payload)
    }

    pub(super) fn org_members_on(
        conn: &mut PgConnection,
        org: Uuid,
    ) -> Result<Vec<Member>, IamError> {
        let rows: Vec<MemberRow> = org_memberships::table
            .inner_join(users::table)
            .filter(org_memberships::organization_id.eq(org))
            .order(users::email)
            .select((
                users::id,
                users::email,
                users::display_name,
                org_memberships::role,
                org_memberships::created_at,
                users::email_verified_at,
            ))
            .load(conn)?;
        Ok(rows.into_iter().map(member).collect())
    }

    pub(super) fn project_members_on(
        conn: &mut PgConnection,
        project: Uuid,
    ) -> Result<Vec<Member>, IamError> {
        let rows: Vec<MemberRow> = project_memberships::table
            .inner_join(users::table)
            .filter(project_memberships::project_id.eq(project))
            .order(users::email)
            .select((
                users::id,
                users::email,
                users::display_name,
                project_memberships::role,
                project_memberships::created_at,
                users::email_verified_at,
            ))
            .load(conn)?;
        Ok(rows.into_iter().map(member).collect())
    }

    pub(super) fn set_org_member_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError> {
        check_role("role", role, &ORG_ROLES)?;
        conn.transaction(|conn| {
            let place = place(org, None);
            let holdings = self.may_grant(conn, caller, &place, &[org_role_id(role)])?;
            let (user, previous) = grantee(conn, org, email, &holdings)?;
            let touches_owner = role == OWNER || previous.as_deref() == Some(OWNER);
            if touches_owner && !is_root(&holdings) {
                return Err(IamError::Forbidden(format!(
                    "only an owner of `{}` can make or unmake owners",
                    org.slug
                )));
            }
            if previous.as_deref() == Some(OWNER) && role != OWNER {
                keep_an_owner(conn, org, user.id)?;
            }
            let now = self.clock.now();
            diesel::insert_into(org_memberships::table)
                .values((
                    org_memberships::organization_id.eq(org.id),
                    org_memberships::user_id.eq(user.id),
                    org_memberships::role.eq(role),
                    org_memberships::created_at.eq(now),
                ))
                .on_conflict((org_memberships::organization_id, org_memberships::user_id))
                .do_update()
                .set(org_memberships::role.eq(role))
                .execute(conn)?;
            self.audit_member(
                conn,
                caller,
                MEMBERSHIP_GRANTED,
                ("membership", user.id.to_string()),
                &place,
                json!({ "level": "organization", "role": role, "previous": previous }),
            )?;
            Ok(to_member(&user, role.into(), now))
        })
    }

    pub(super) fn remove_org_member_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
        email: &str,
    ) -> Result<(), IamError> {
        conn.transaction(|conn| {
            let place = place(org, None);
            let holdings = self.may_grant(conn, caller, &place, &[])?;
            let (user, role) = grantee(conn, org, email, &holdings)?;
            let role = role.ok_or_else(|| {
                IamError::NotFound(format!("`{email}` is not a member of `{}`", org.slug))
            })?;
            if role == OWNER {
                if !is_root(&holdings) {
                    return Err(IamError::Forbidden(format!(
                        "only an owner of `{}` can remove an owner",
                        org.slug
                    )));
                }
                keep_an_owner(conn, org, user.id)?;
            }
            // Project memberships and role bindings go with it (ON DELETE CASCADE), and so
            // do their keys: access never outlives its grant, nor comes back with a re-add.
            diesel::delete(org_memberships::table.find((org.id, user.id))).execute(conn)?;
            let why = "membership removed";
            self.revoke_member_keys(conn, caller, (user.id, org.id), why)?;
            self.audit_member(
                conn,
                caller,
                MEMBERSHIP_REVOKED,
                ("membership", user.id.to_string()),
                &place,
                json!({ "level": "organization", "role": role }),
            )
        })
    }

    pub(super) fn set_project_member_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
        project: &Project,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError> {
        check_role("role", role, &PROJECT_ROLES)?;
        conn.transaction(|conn| {
            let place = place(org, Some(project));
            let holdings = self.may_grant(conn, caller, &place, &[project_role_id(role)])?;
            let (user, in_org) = grantee(conn, org, email, &holdings)?;
            if in_org.is_none() {
                return Err(IamError::Invalid {
                    field: "email",
                    reason: format!(
                        "`{email}` is not a member of organization `{}`; add them there first",
                        org.slug
                    ),
                });
            }
            let now = self.clock.now();
            diesel::insert_into(project_memberships::table)
                .values((
                    project_memberships::project_id.eq(project.id),
                    project_memberships::organization_id.eq(org.id),
                    project_memberships::user_id.eq(user.id),
                    project_memberships::role.eq(role),
                    project_memberships::created_at.eq(now),
                ))
                .on_conflict((
                    project_memberships::project_id,
                    project_memberships::user_id,
                ))
                .do_update()
                .set(project_memberships::role.eq(role))
                .execute(conn)?;
            self.audit_member(
                conn,
                caller,
                MEMBERSHIP_GRANTED,
                ("membership", user.id.to_string()),
                &place,
                json!({ "level": "project", "role": role }),
            )?;
            Ok(to_member(&user, role.into(), now))
        })
    }

    pub(super) fn remove_project_member_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
        project: &Project,
        email: &str,
    ) -> Result<(), IamError> {
        conn.transaction(|conn| {
            let place = place(org, Some(project));
            let holdings = self.may_grant(conn, caller, &place, &[])?;
            let (user, _) = grantee(conn, org, email, &holdings)?;
            let role: String = project_memberships::table
                .find((project.id, user.id))
                .select(project_memberships::role)
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    IamError::NotFound(format!(
                        "`{email}` is not a member of `{}/{}`",
                        org.slug, project.slug
                    ))
                })?;
            diesel::delete(project_memberships::table.find((project.id, user.id))).execute(conn)?;
            self.audit_member(
                conn,
                caller,
                MEMBERSHIP_REVOKED,
                ("membership", user.id.to_string()),
                &place,
                json!({ "level": "project", "role": role }),
            )
        })
    }
}

fn member(r: MemberRow) -> Member {
    Member {
        user_id: r.0,
        email: r.1,
        display_name: r.2,
        role: r.3,
        created_at: r.4,
        email_verified: r.5.is_some(),
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
