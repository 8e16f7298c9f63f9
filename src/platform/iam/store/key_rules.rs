//! Whether a new key may be issued: its bounds, where it lands (by whom it acts as), and no
//! escalation: nobody hands a key more than they hold.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{org_memberships, organizations, projects, service_accounts, users};
use super::super::{Caller, IamError, KeyHolder, NewKey, Organization, Place, Project};
use super::keys::KEYS_MANAGE;
use super::rows::{OrganizationRow, ProjectRow};
use super::{PgIam, check_text};

/// Longest key name, in characters.
const MAX_KEY_NAME: usize = 100;
/// Most scopes one key may carry.
const MAX_KEY_SCOPES: usize = 64;
/// Most models one key's allow-list may name.
const MAX_ALLOWED_MODELS: usize = 256;
/// Longest model id in an allow-list.
const MAX_MODEL_ID: usize = 128;

/// The bounds of a new key, checked before anything else.
pub(super) fn check_new_key(key: &NewKey) -> Result<(), IamError> {
    check_text("name", &key.name, MAX_KEY_NAME)?;
    if !(1..=MAX_KEY_SCOPES).contains(&key.scopes.len()) {
        return Err(IamError::Invalid {
            field: "scopes",
            reason: format!("a key needs 1 to {MAX_KEY_SCOPES} scopes"),
        });
    }
    let models = key.model_allowlist.as_deref().unwrap_or_default();
    if models.len() > MAX_ALLOWED_MODELS {
        return Err(IamError::Invalid {
            field: "model_allowlist",
            reason: format!("names at most {MAX_ALLOWED_MODELS} models"),
        });
    }
    models
        .iter()
        .try_for_each(|model| check_text("model_allowlist", model, MAX_MODEL_ID))
}

impl PgIam {
    /// The organization and project a new key lands in, from whom it acts as.
    pub(super) fn holder_place(
        conn: &mut PgConnection,
        holder: KeyHolder,
    ) -> Result<Place, IamError> {
        let project_id = match holder {
            KeyHolder::ServiceAccount(id) => {
                let (project, name, state): (Uuid, String, String) = service_accounts::table
                    .find(id)
                    .select((
                        service_accounts::project_id,
                        service_accounts::name,
                        service_accounts::state,
                    ))
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| IamError::NotFound(format!("no service account {id}")))?;
                if state != "active" {
                    return Err(IamError::Conflict(format!(
                        "service account `{name}` is disabled; it gets no new keys"
                    )));
                }
                project
            }
            KeyHolder::User(_, project) => project,
        };
        let project: Project = projects::table
            .find(project_id)
            .select(ProjectRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| IamError::NotFound(format!("no project {project_id}")))?
            .into();
        let org: Organization = organizations::table
            .find(project.organization_id)
            .select(OrganizationRow::as_select())
            .first(conn)?
            .into();
        if let KeyHolder::User(user, _) = holder {
            let member: i64 = org_memberships::table
                .filter(org_memberships::organization_id.eq(org.id))
                .filter(org_memberships::user_id.eq(user))
                .count()
                .get_result(conn)?;
            if member == 0 {
                return Err(IamError::Invalid {
                    field: "user",
                    reason: format!("the user is not a member of organization `{}`", org.slug),
                });
            }
            let state: String = users::table.find(user).select(users::state).first(conn)?;
            if state != "active" {
                return Err(IamError::Conflict(
                    "the user is disabled; they get no new keys".into(),
                ));
            }
        }
        Ok(Place {
            organization: Some(org),
            project: Some(project),
        })
    }

    /// No escalation: the caller manages keys in the project and holds every scope it hands
    /// out; a user key is only ever issued by that user (or the platform).
    pub(super) fn may_issue(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        place: &Place,
        key: &NewKey,
    ) -> Result<(), IamError> {
        let holdings = self.holdings_on(conn, caller, place)?;
        let (org, project) = (place.org()?, place.project()?);
        let here = format!("`{}/{}`", org.slug, project.slug);
        if !holdings.visible {
            return Err(IamError::NotFound(format!("no project {here}")));
        }
        if !holdings.holds(KEYS_MANAGE) {
            return Err(IamError::Forbidden(format!(
                "you lack the `{KEYS_MANAGE}` scope in project {here}"
            )));
        }
        if let Some(scope) = key.scopes.iter().find(|s| !holdings.holds(s)) {
            return Err(IamError::Forbidden(format!(
                "you cannot give a key `{scope}`: you do not hold it in project {here}"
            )));
        }
        match key.holder {
            KeyHolder::User(user, _)
                if caller.user_id() != Some(user) && !holdings.platform_wide =>
            {
                Err(IamError::Forbidden(
                    "a user key can only be issued by that user".into(),
                ))
            }
            _ => Ok(()),
        }
    }
}
