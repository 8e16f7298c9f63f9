//! Invitations: single-use links with an expiry, stored only as a SHA-256 of their token.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::members::{ORG_ROLES, org_role_id};
use super::super::schema::{invitations, org_memberships, organizations};
use super::super::{Caller, IamError, Invitation, IssuedInvitation, Member, Organization};
use super::PgIam;
use super::accounts::{check_email, user_by_email};
use super::grant_rules::{OWNER, check_role, is_root, place};
use super::members::to_member;
use super::read_model::digest;
use crate::platform::audit::Actor;

const INVITATION_CREATED: &str = "platform.invitation.created";
const INVITATION_ACCEPTED: &str = "platform.invitation.accepted";

impl PgIam {
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

    /// Creates an account for the invited address, unverified, unless one exists; either
    /// way the answer is the same, so a link never tells whether an address has an account.
    /// It does not accept the invitation: the person signs in and accepts it, so joining an
    /// organization always takes the consent of whoever can sign in to the account.
    pub(super) fn join_on(
        &self,
        conn: &mut PgConnection,
        token: &str,
        display_name: &str,
        password: &str,
    ) -> Result<(), IamError> {
        super::check_name(display_name)?;
        // Hashed before looking, so both answers cost the same time.
        let hash = super::accounts::hash_password(password)?;
        conn.transaction(|conn| {
            let (_, invitation) = self.open_invitation_on(conn, token)?;
            if user_by_email(conn, &invitation.email)?.is_some() {
                return Ok(());
            }
            // Nobody is signed in: the account is its own creator, by invitation.
            let actor = Actor::system(format!("invitation:{}", invitation.id));
            let account = (
                invitation.email.as_str(),
                display_name.trim(),
                hash.as_str(),
            );
            self.insert_user(conn, account, actor)?;
            Ok(())
        })
    }

    pub(super) fn accept_invitation_on(
        &self,
        conn: &mut PgConnection,
        token: &str,
        user_id: Uuid,
    ) -> Result<Member, IamError> {
        conn.transaction(|conn| {
            let (org, invitation) = self.open_invitation_on(conn, token)?;
            let user = &super::accounts::user_by_id(conn, user_id)?;
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
