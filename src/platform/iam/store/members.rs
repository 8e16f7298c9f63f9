//! Memberships, role bindings and invitations, with the escalation rules, each change
//! audited in its transaction.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::members::{ORG_ROLES, PROJECT_ROLES, org_role_id, project_role_id};
use super::super::schema::{
    invitations, org_memberships, organizations, project_memberships, projects, role_bindings,
    users,
};
use super::super::{
    Caller, Holdings, IamError, Invitation, IssuedInvitation, Member, Organization, Place, Project,
    RoleBinding, User,
};
use super::PgIam;
use super::people::{check_email, user_by_email};
use super::read_model::{CHANNEL, digest};
use crate::platform::audit::NewEvent;

const MEMBERSHIP_GRANTED: &str = "platform.membership.granted";
const MEMBERSHIP_REVOKED: &str = "platform.membership.revoked";
const ROLE_GRANTED: &str = "platform.role.granted";
const ROLE_REMOVED: &str = "platform.role.removed";
const INVITATION_CREATED: &str = "platform.invitation.created";
const INVITATION_ACCEPTED: &str = "platform.invitation.accepted";
const WRITE: &str = "platform.iam.write";
const ORG_MANAGE: &str = "platform.org.manage";
const OWNER: &str = "owner";
/// Event subject for every access change, declared by the platform's packet.
const MEMBERSHIP_CHANGED: &str = "platform.iam.membership_changed";

fn check_role(field: &'static str, role: &str, allowed: &[&str]) -> Result<(), IamError> {
    match allowed.contains(&role) {
        true => Ok(()),
        false => Err(IamError::Invalid {
            field,
            reason: format!("`{role}` is not one of {}", allowed.join(", ")),
        }),
    }
}

fn place(org: &Organization, project: Option<&Project>) -> Place {
    Place {
        organization: Some(org.clone()),
        project: project.cloned(),
    }
}

fn user_named(conn: &mut PgConnection, email: &str) -> Result<User, IamError> {
    let (row, _) = user_by_email(conn, email)?
        .ok_or_else(|| IamError::NotFound(format!("no user `{email}`")))?;
    Ok(super::people::to_user(conn, row)?)
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

fn to_member(user: &User, role: String, created_at: OffsetDateTime) -> Member {
    Member {
        user_id: user.id,
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        role,
        created_at,
    }
}

type MemberRow = (Uuid, String, String, String, OffsetDateTime);

impl PgIam {
    /// Checks `caller` may change access at `place`, and may hand out `roles`: nobody grants
    /// scopes they lack, except an owner of the organization or the platform itself.
    fn may_grant(
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

    fn audit_member(
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
            let user = user_named(conn, email)?;
            let previous: Option<String> = org_memberships::table
                .find((org.id, user.id))
                .select(org_memberships::role)
                .first(conn)
                .optional()?;
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
            let user = user_named(conn, email)?;
            let role: String = org_memberships::table
                .find((org.id, user.id))
                .select(org_memberships::role)
                .first(conn)
                .optional()?
                .ok_or_else(|| {
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
            // Project memberships and role bindings go with it (ON DELETE CASCADE).
            diesel::delete(org_memberships::table.find((org.id, user.id))).execute(conn)?;
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
            self.may_grant(conn, caller, &place, &[project_role_id(role)])?;
            let user = user_named(conn, email)?;
            let in_org: i64 = org_memberships::table
                .filter(org_memberships::organization_id.eq(org.id))
                .filter(org_memberships::user_id.eq(user.id))
                .count()
                .get_result(conn)?;
            if in_org == 0 {
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
            self.may_grant(conn, caller, &place, &[])?;
            let user = user_named(conn, email)?;
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

    pub(super) fn role_bindings_on(
        conn: &mut PgConnection,
        org: Uuid,
    ) -> Result<Vec<RoleBinding>, IamError> {
        let rows: Vec<(Uuid, String, String, Option<Uuid>, OffsetDateTime)> = role_bindings::table
            .inner_join(users::table)
            .filter(role_bindings::organization_id.eq(org))
            .order((users::email, role_bindings::role))
            .select((
                role_bindings::id,
                users::email,
                role_bindings::role,
                role_bindings::project_id,
                role_bindings::created_at,
            ))
            .load(conn)?;
        let mut bindings = Vec::with_capacity(rows.len());
        for (id, email, role, project, created_at) in rows {
            let project = match project {
                None => None,
                Some(p) => Some(
                    projects::table
                        .find(p)
                        .select(projects::slug)
                        .first::<String>(conn)?,
                ),
            };
            bindings.push(RoleBinding {
                id,
                email,
                role,
                project,
                created_at,
            });
        }
        Ok(bindings)
    }

    pub(super) fn grant_role_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
        project: Option<&Project>,
        email: &str,
        role: &str,
    ) -> Result<RoleBinding, IamError> {
        // The platform's own roles come from memberships and platform roles, not bindings.
        if role.starts_with("platform.") || self.registry.active_entry("role", role).is_none() {
            return Err(IamError::Invalid {
                field: "role",
                reason: format!("`{role}` is not an active product role in the registry"),
            });
        }
        conn.transaction(|conn| {
            let place = place(org, project);
            self.may_grant(conn, caller, &place, &[role.to_owned()])?;
            let user = user_named(conn, email)?;
            let id = Uuid::now_v7();
            let now = self.clock.now();
            let inserted = diesel::insert_into(role_bindings::table)
                .values((
                    role_bindings::id.eq(id),
                    role_bindings::organization_id.eq(org.id),
                    role_bindings::project_id.eq(project.map(|p| p.id)),
                    role_bindings::user_id.eq(user.id),
                    role_bindings::role.eq(role),
                    role_bindings::created_at.eq(now),
                ))
                .execute(conn);
            match inserted {
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                )) => {
                    return Err(IamError::Invalid {
                        field: "email",
                        reason: format!("`{email}` is not a member of organization `{}`", org.slug),
                    });
                }
                other => other?,
            };
            self.audit_member(
                conn,
                caller,
                ROLE_GRANTED,
                ("role_binding", id.to_string()),
                &place,
                json!({ "role": role, "user_id": user.id }),
            )?;
            Ok(RoleBinding {
                id,
                email: user.email,
                role: role.into(),
                project: project.map(|p| p.slug.clone()),
                created_at: now,
            })
        })
    }

    pub(super) fn revoke_role_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
        binding: Uuid,
    ) -> Result<(), IamError> {
        conn.transaction(|conn| {
            let found: (Option<Uuid>, String, Uuid) = role_bindings::table
                .filter(role_bindings::id.eq(binding))
                .filter(role_bindings::organization_id.eq(org.id))
                .select((
                    role_bindings::project_id,
                    role_bindings::role,
                    role_bindings::user_id,
                ))
                .first(conn)
                .optional()?
                .ok_or_else(|| IamError::NotFound(format!("no role binding {binding}")))?;
            let project: Option<Project> = match found.0 {
                None => None,
                Some(id) => Some(
                    projects::table
                        .find(id)
                        .select(super::rows::ProjectRow::as_select())
                        .first(conn)?
                        .into(),
                ),
            };
            let place = place(org, project.as_ref());
            self.may_grant(conn, caller, &place, &[])?;
            diesel::delete(role_bindings::table.find(binding)).execute(conn)?;
            self.audit_member(
                conn,
                caller,
                ROLE_REMOVED,
                ("role_binding", binding.to_string()),
                &place,
                json!({ "role": found.1, "user_id": found.2 }),
            )
        })
    }

    pub(super) fn invite_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
        valid_for: time::Duration,
    ) -> Result<IssuedInvitation, IamError> {
        check_role("role", role, &ORG_ROLES)?;
        let email = check_email(email)?;
        if valid_for <= time::Duration::ZERO || valid_for > time::Duration::days(30) {
            return Err(IamError::Invalid {
                field: "valid_for",
                reason: "must be more than zero and at most 30 days".into(),
            });
        }
        let token = super::random_hex(32)?;
        conn.transaction(|conn| {
            let place = place(org, None);
            let holdings = self.may_grant(conn, caller, &place, &[org_role_id(role)])?;
            if role == OWNER && !is_root(&holdings) {
                return Err(IamError::Forbidden(format!(
                    "only an owner of `{}` can invite owners",
                    org.slug
                )));
            }
            let now = self.clock.now();
            let invitation = Invitation {
                id: Uuid::now_v7(),
                organization: org.slug.clone(),
                email: email.clone(),
                role: role.into(),
                invited_by: caller.actor().id,
                expires_at: now + valid_for,
                accepted_at: None,
            };
            diesel::insert_into(invitations::table)
                .values((
                    invitations::id.eq(invitation.id),
                    invitations::organization_id.eq(org.id),
                    invitations::email.eq(&email),
                    invitations::role.eq(role),
                    invitations::token_sha256.eq(hex::encode(digest(&token))),
                    invitations::invited_by.eq(&invitation.invited_by),
                    invitations::created_at.eq(now),
                    invitations::expires_at.eq(invitation.expires_at),
                ))
                .execute(conn)?;
            self.audit_member(
                conn,
                caller,
                INVITATION_CREATED,
                ("invitation", invitation.id.to_string()),
                &place,
                json!({ "role": role, "expires_at": invitation.expires_at.unix_timestamp() }),
            )?;
            Ok(IssuedInvitation { invitation, token })
        })
    }

    pub(super) fn invitations_on(
        conn: &mut PgConnection,
        org: &Organization,
    ) -> Result<Vec<Invitation>, IamError> {
        let rows: Vec<InvitationRow> = invitations::table
            .filter(invitations::organization_id.eq(org.id))
            .order(invitations::created_at.desc())
            .select(INVITATION_COLUMNS)
            .load(conn)?;
        Ok(rows.into_iter().map(|r| invitation(&org.slug, r)).collect())
    }

    /// The open invitation behind `token`, locked when `lock`.
    pub(super) fn open_invitation_on(
        &self,
        conn: &mut PgConnection,
        token: &str,
    ) -> Result<(Organization, Invitation), IamError> {
        let gone = || IamError::NotFound("this invitation link is unknown, used or expired".into());
        let row: (InvitationRow, Uuid) = invitations::table
            .filter(invitations::token_sha256.eq(hex::encode(digest(token))))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::expires_at.gt(self.clock.now()))
            .select((INVITATION_COLUMNS, invitations::organization_id))
            .for_update()
            .first(conn)
            .optional()?
            .ok_or_else(gone)?;
        let org: Organization = organizations::table
            .find(row.1)
            .select(super::rows::OrganizationRow::as_select())
            .first(conn)?
            .into();
        let invitation = invitation(&org.slug, row.0);
        Ok((org, invitation))
    }

    /// Creates the invited person's account and accepts the invitation, in one transaction.
    pub(super) fn join_on(
        &self,
        conn: &mut PgConnection,
        token: &str,
        display_name: &str,
        password: &str,
    ) -> Result<User, IamError> {
        if display_name.trim().is_empty() {
            return Err(IamError::Invalid {
                field: "display_name",
                reason: "must not be empty".into(),
            });
        }
        let hash = super::people::hash_password(password)?;
        conn.transaction(|conn| {
            let (_, invitation) = self.open_invitation_on(conn, token)?;
            if user_by_email(conn, &invitation.email)?.is_some() {
                return Err(IamError::Conflict(format!(
                    "an account for `{}` exists already: sign in, then accept",
                    invitation.email
                )));
            }
            let now = self.clock.now();
            self.insert_user(conn, &invitation.email, display_name.trim(), &hash, now)?;
            let user = user_named(conn, &invitation.email)?;
            self.accept_on(conn, token, &user)?;
            Ok(user)
        })
    }

    pub(super) fn accept_on(
        &self,
        conn: &mut PgConnection,
        token: &str,
        user: &User,
    ) -> Result<Member, IamError> {
        conn.transaction(|conn| {
            let (org, invitation) = self.open_invitation_on(conn, token)?;
            if !invitation.email.eq_ignore_ascii_case(&user.email) {
                return Err(IamError::Forbidden(
                    "this invitation was sent to another email address".into(),
                ));
            }
            let member: i64 = org_memberships::table
                .filter(org_memberships::organization_id.eq(org.id))
                .filter(org_memberships::user_id.eq(user.id))
                .count()
                .get_result(conn)?;
            if member > 0 {
                return Err(IamError::Conflict(format!(
                    "you are already a member of `{}`",
                    org.slug
                )));
            }
            let now = self.clock.now();
            diesel::insert_into(org_memberships::table)
                .values((
                    org_memberships::organization_id.eq(org.id),
                    org_memberships::user_id.eq(user.id),
                    org_memberships::role.eq(&invitation.role),
                    org_memberships::created_at.eq(now),
                ))
                .execute(conn)?;
            diesel::update(invitations::table.find(invitation.id))
                .set((
                    invitations::accepted_at.eq(now),
                    invitations::accepted_by.eq(user.id),
                ))
                .execute(conn)?;
            let caller = Caller::User(user.clone());
            self.audit_member(
                conn,
                &caller,
                INVITATION_ACCEPTED,
                ("invitation", invitation.id.to_string()),
                &place(&org, None),
                json!({ "role": invitation.role }),
            )?;
            Ok(to_member(user, invitation.role, now))
        })
    }
}

type InvitationRow = (
    Uuid,
    String,
    String,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
);

const INVITATION_COLUMNS: (
    invitations::id,
    invitations::email,
    invitations::role,
    invitations::invited_by,
    invitations::expires_at,
    invitations::accepted_at,
) = (
    invitations::id,
    invitations::email,
    invitations::role,
    invitations::invited_by,
    invitations::expires_at,
    invitations::accepted_at,
);

fn invitation(org: &str, r: InvitationRow) -> Invitation {
    Invitation {
        id: r.0,
        organization: org.into(),
        email: r.1,
        role: r.2,
        invited_by: r.3,
        expires_at: r.4,
        accepted_at: r.5,
    }
}

fn member(r: MemberRow) -> Member {
    Member {
        user_id: r.0,
        email: r.1,
        display_name: r.2,
        role: r.3,
        created_at: r.4,
    }
}

/// The organization's owner or the platform: the tenant's root, who may grant anything in it.
fn is_root(holdings: &Holdings) -> bool {
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
