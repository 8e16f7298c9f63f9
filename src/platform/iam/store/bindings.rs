//! Registry roles (product roles) bound to members, with the escalation rules of
//! `members.rs`, each change audited and announced in its transaction.

use diesel::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::schema::{projects, role_bindings, users};
use super::super::{Caller, IamError, Organization, Place, Project, RoleBinding};
use super::PgIam;
use super::grant_rules::{grantee, place};

const ROLE_GRANTED: &str = "platform.role.granted";
const ROLE_REMOVED: &str = "platform.role.removed";
/// Binding a role tenants may not bind needs this scope platform-wide.
const IAM_WRITE: &str = "platform.iam.write";

impl PgIam {
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
        let entry = match self.registry.active_entry("role", role) {
            Some(entry) if !role.starts_with("platform.") => entry,
            _ => {
                return Err(IamError::Invalid {
                    field: "role",
                    reason: format!("`{role}` is not an active product role in the registry"),
                });
            }
        };
        // Fails closed: a role whose packet does not say `tenant_bindable = true` is not.
        let tenant_bindable = entry.attributes.get("tenant_bindable") == Some(&json!(true));
        conn.transaction(|conn| {
            let place = place(org, project);
            let holdings = self.may_grant(conn, caller, &place, &[role.to_owned()])?;
            if !tenant_bindable {
                self.may_bind_for_the_platform(conn, caller, role)?;
            }
            // Roles go to members only: the same answer whether or not an account exists.
            let (user, _) = grantee(conn, org, email, &holdings)?;
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

    /// A role tenants may not bind is bound only by a caller holding `platform.iam.write`
    /// platform-wide (a platform administrator or the console), whatever they hold in the
    /// organization: owning it is not enough.
    fn may_bind_for_the_platform(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        role: &str,
    ) -> Result<(), IamError> {
        let platform = self.holdings_on(conn, caller, &Place::default())?;
        match platform.platform_wide && platform.holds(IAM_WRITE) {
            true => Ok(()),
            false => Err(IamError::Forbidden(format!(
                "`{role}` is not bindable by tenants; only a platform administrator \
                 (`{IAM_WRITE}` at platform scope) may bind it"
            ))),
        }
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
}
