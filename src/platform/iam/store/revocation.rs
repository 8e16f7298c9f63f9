//! Ending keys: revoke and rotate, and the keys a person loses with a membership.
//!
//! Who may end a key is decided here, whatever the adapter checked: whoever holds
//! `platform.keys.manage` in its project may end a service account's key; a person's key
//! only that person, an owner or admin of its organization, or the platform.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{api_keys, organizations, projects};
use super::super::{ApiKeyView, Caller, IamError, IssuedKey, KeyHolder, NewKey, Place};
use super::keys::{KEY_REVOKED, KEYS_MANAGE, KeyRow, key_columns, key_payload, view};
use super::rows::{OrganizationRow, ProjectRow};
use super::{PgIam, grants};

const KEY_ROTATED: &str = "platform.api_key.rotated";
/// Organization roles that may end another person's keys.
const SENIOR_ROLES: [&str; 2] = ["owner", "admin"];

impl PgIam {
    /// Refuses unless `caller` may end `key` (see the module's rule).
    fn may_end(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        key: &ApiKeyView,
    ) -> Result<(), IamError> {
        let place = key_place(conn, key)?;
        let holdings = self.holdings_on(conn, caller, &place)?;
        if !holdings.visible {
            return Err(IamError::NotFound(format!("no key `{}`", key.prefix)));
        }
        if !holdings.holds(KEYS_MANAGE) {
            return Err(IamError::Forbidden(format!(
                "you lack the `{KEYS_MANAGE}` scope in the key's project"
            )));
        }
        let Some(person) = key.user_id else {
            return Ok(());
        };
        // By the person's role now, whether they act in person or through one of their keys.
        let role = match caller.user_id() {
            Some(user) => grants::org_role_of(conn, user, &place)?,
            None => None,
        };
        let senior = role.is_some_and(|role| SENIOR_ROLES.contains(&role.as_str()));
        match caller.user_id() == Some(person) || senior || holdings.platform_wide {
            true => Ok(()),
            false => Err(IamError::Forbidden(
                "another person's key can be ended only by them, an owner or admin of the \
                 organization, or the platform"
                    .into(),
            )),
        }
    }

    /// Revokes `prefix` at once, audited and announced; every server denies it within a second.
    pub(super) fn revoke_key_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        prefix: &str,
    ) -> Result<ApiKeyView, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let mut key = PgIam::locked_key(conn, prefix)?;
            self.may_end(conn, caller, &key)?;
            if key.revoked_at.is_some() {
                return Err(IamError::Conflict(format!(
                    "key `{prefix}` is already revoked"
                )));
            }
            diesel::update(api_keys::table.find(key.id))
                .set(api_keys::revoked_at.eq(now))
                .execute(conn)?;
            key.revoked_at = Some(now);
            self.audit_key(conn, caller, KEY_REVOKED, &key, serde_json::json!({}))?;
            Ok(key)
        })
    }

    /// Revokes every live key of `user` in `organization`, each audited as revoked because
    /// the membership ended. Call inside the transaction that removes the membership, so
    /// the access and its keys end together.
    pub(super) fn revoke_member_keys(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        (user, organization): (Uuid, Uuid),
        why: &str,
    ) -> Result<usize, IamError> {
        let live = api_keys::table
            .filter(api_keys::user_id.eq(user))
            .filter(api_keys::organization_id.eq(organization))
            .filter(api_keys::revoked_at.is_null());
        let ended: Vec<KeyRow> = diesel::update(live)
            .set(api_keys::revoked_at.eq(self.clock.now()))
            .returning(key_columns!())
            .get_results(conn)?;
        for key in ended.iter().cloned().map(view) {
            let details = serde_json::json!({ "reason": why });
            self.audit_key(conn, caller, KEY_REVOKED, &key, details)?;
        }
        Ok(ended.len())
    }

    /// Ends the old key after `grace` (at once when zero) and issues its replacement, in one
    /// transaction with the audit event. The caller must be able to issue the replacement.
    pub(super) fn rotate_key_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        prefix: &str,
        grace: std::time::Duration,
    ) -> Result<IssuedKey, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let old = PgIam::locked_key(conn, prefix)?;
            self.may_end(conn, caller, &old)?;
            if old.revoked_at.is_some() {
                return Err(IamError::NotFound(format!("no active key `{prefix}`")));
            }
            let ends = now + grace;
            let old_key = api_keys::table.find(old.id);
            match grace.is_zero() {
                true => diesel::update(old_key)
                    .set(api_keys::revoked_at.eq(now))
                    .execute(conn)?,
                false => diesel::update(old_key)
                    .set(api_keys::expires_at.eq(Some(old.expires_at.map_or(ends, |e| e.min(ends)))))
                    .execute(conn)?,
            };
            let holder = match (old.service_account_id, old.user_id) {
                (Some(sa), _) => KeyHolder::ServiceAccount(sa),
                (None, Some(user)) => KeyHolder::User(user, old.project_id),
                (None, None) => return Err(IamError::NotFound(format!("no active key `{prefix}`"))),
            };
            let replacement = NewKey {
                holder,
                name: old.name.clone(),
                scopes: old.scopes.clone(),
                model_allowlist: old.model_allowlist.clone(),
                expires_at: old.expires_at,
            };
            let issued = self.issue_key_on(conn, caller, replacement)?;
            let details = serde_json::json!({ "replacement": issued.key.prefix, "grace_secs": grace.as_secs() });
            self.audit_key(conn, caller, KEY_ROTATED, &old, details)?;
            if grace.is_zero() {
                self.announce(conn, "platform.iam.key_revoked", key_payload(&old))?;
            }
            Ok(issued)
        })
    }
}

/// The organization and project `key` lives in.
fn key_place(conn: &mut PgConnection, key: &ApiKeyView) -> Result<Place, IamError> {
    let project = projects::table
        .find(key.project_id)
        .select(ProjectRow::as_select())
        .first(conn)?;
    let organization = organizations::table
        .find(key.organization_id)
        .select(OrganizationRow::as_select())
        .first(conn)?;
    Ok(Place {
        organization: Some(organization.into()),
        project: Some(project.into()),
    })
}
