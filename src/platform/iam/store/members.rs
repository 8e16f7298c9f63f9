//! Organization and project memberships, and the `Members` trait (memberships, role
//! bindings in `bindings.rs`, invitations in `invitations.rs`); every change follows
//! `grant_rules.rs` and is audited and announced in its transaction.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::members::{ORG_ROLES, PROJECT_ROLES, org_role_id, project_role_id};
use super::super::schema::{org_memberships, project_memberships, users};
use super::super::{
    Caller, IamError, Invitation, IssuedInvitation, Member, Members, Organization, Place, Project,
    RoleBinding, User,
};
use super::grant_rules::{OWNER, check_role, grantee, is_root, keep_an_owner, place};
use super::read_model::CHANNEL;
use super::{PgIam, tenancy_reads};
use crate::platform::audit::NewEvent;

/// Memberships and bindings decide what user keys hold, so each change to them (and an
/// accepted invitation) reloads the key read model (`changing_keys`); reads and open
/// invitations grant nothing, and do not.
#[async_trait::async_trait]
impl Members for PgIam {
    async fn org_members(&self, org: &Organization) -> Result<Vec<Member>, IamError> {
        let org = org.id;
        self.db
            .run(move |conn| PgIam::org_members_on(conn, org))
            .await
    }

    async fn set_org_member(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError> {
        let (caller, org) = (caller.clone(), org.clone());
        let [email, role] = [email, role].map(str::to_owned);
        self.changing_keys(move |this, conn| {
            this.set_org_member_on(conn, &caller, &org, &email, &role)
        })
        .await
    }

    async fn remove_org_member(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
    ) -> Result<(), IamError> {
        let (caller, org, email) = (caller.clone(), org.clone(), email.to_owned());
        self.changing_keys(move |this, conn| this.remove_org_member_on(conn, &caller, &org, &email))
            .await
    }

    async fn project_members(&self, project: &Project) -> Result<Vec<Member>, IamError> {
        let project = project.id;
        self.db
            .run(move |conn| PgIam::project_members_on(conn, project))
            .await
    }

    async fn set_project_member(
        &self,
        caller: &Caller,
        project: &Project,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError> {
        let (caller, project) = (caller.clone(), project.clone());
        let [email, role] = [email, role].map(str::to_owned);
        self.changing_keys(move |this, conn| {
            let org = tenancy_reads::organization_by_id(conn, project.organization_id)?;
            this.set_project_member_on(conn, &caller, &org, &project, &email, &role)
        })
        .await
    }

    async fn remove_project_member(
        &self,
        caller: &Caller,
        project: &Project,
        email: &str,
    ) -> Result<(), IamError> {
        let (caller, project, email) = (caller.clone(), project.clone(), email.to_owned());
        self.changing_keys(move |this, conn| {
            let org = tenancy_reads::organization_by_id(conn, project.organization_id)?;
            this.remove_project_member_on(conn, &caller, &org, &project, &email)
        })
        .await
    }

    async fn role_bindings(&self, org: &Organization) -> Result<Vec<RoleBinding>, IamError> {
        let org = org.id;
        self.db
            .run(move |conn| PgIam::role_bindings_on(conn, org))
            .await
    }

    async fn grant_role(
        &self,
        caller: &Caller,
        org: &Organization,
        project: Option<&Project>,
        email: &str,
        role: &str,
    ) -> Result<RoleBinding, IamError> {
        let (caller, org, project) = (caller.clone(), org.clone(), project.cloned());
        let [email, role] = [email, role].map(str::to_owned);
        self.changing_keys(move |this, conn| {
            this.grant_role_on(conn, &caller, &org, project.as_ref(), &email, &role)
        })
        .await
    }

    async fn revoke_role(
        &self,
        caller: &Caller,
        org: &Organization,
        binding: Uuid,
    ) -> Result<(), IamError> {
        let (caller, org) = (caller.clone(), org.clone());
        self.changing_keys(move |this, conn| this.revoke_role_on(conn, &caller, &org, binding))
            .await
    }

    async fn invite(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
        valid_for: time::Duration,
    ) -> Result<IssuedInvitation, IamError> {
        let (caller, org) = (caller.clone(), org.clone());
        let [email, role] = [email, role].map(str::to_owned);
        self.on_pool(move |this, conn| {
            this.invite_on(conn, &caller, &org, &email, &role, valid_for)
        })
        .await
    }

    async fn invitations(&self, org: &Organization) -> Result<Vec<Invitation>, IamError> {
        let org = org.clone();
        self.db
            .run(move |conn| PgIam::invitations_on(conn, &org))
            .await
    }

    async fn invitation(&self, token: &str) -> Result<Invitation, IamError> {
        let token = token.to_owned();
        self.on_pool(move |this, conn| this.open_invitation_on(conn, &token).map(|(_, i)| i))
            .await
    }

    async fn join(&self, token: &str, display_name: &str, password: &str) -> Result<(), IamError> {
        let [token, name, password] = [token, display_name, password].map(str::to_owned);
        self.on_pool(move |this, conn| this.join_on(conn, &token, &name, &password))
            .await
    }

    async fn accept_invitation(&self, token: &str, user_id: Uuid) -> Result<Member, IamError> {
        let token = token.to_owned();
        self.changing_keys(move |this, conn| this.accept_invitation_on(conn, &token, user_id))
            .await
    }
}

const MEMBERSHIP_GRANTED: &str = "platform.membership.granted";
const MEMBERSHIP_REVOKED: &str = "platform.membership.revoked";
/// Event subject for every access change, declared by the platform's packet.
const MEMBERSHIP_CHANGED: &str = "platform.iam.membership_changed";

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
