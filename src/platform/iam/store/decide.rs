//! Authentication and decisions, from the in-memory read model only: no database.

use uuid::Uuid;

use super::super::{Decision, IamError, Principal};
use super::PgIam;
use super::read_model::{self};

impl PgIam {
    pub(super) fn authenticate_in_memory(&self, bearer: &str) -> Result<Principal, IamError> {
        let denied = || {
            IamError::Unauthenticated(
                "a valid API key is required (Authorization: Bearer aic_...)".into(),
            )
        };
        let rest = bearer.strip_prefix("aic_").ok_or_else(denied)?;
        let (prefix, secret) = rest.split_once('_').ok_or_else(denied)?;
        let entry = self.read_model.get(prefix).ok_or_else(denied)?;
        if !read_model::same(&entry.secret_sha256, &read_model::digest(secret)) {
            return Err(denied());
        }
        let now = self.clock.now();
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Err(denied());
        }
        self.last_used.record(prefix, now);
        Ok(entry.principal)
    }

    pub(super) fn decide_now(
        &self,
        principal: &Principal,
        scope: &str,
        organization: Uuid,
        project: Option<Uuid>,
    ) -> Decision {
        let deny = |reason, message: String| Decision {
            allow: false,
            reason,
            message,
        };
        if principal.organization_id != organization
            || project.is_some_and(|p| p != principal.project_id)
        {
            return deny(
                "other_tenant",
                "this key does not belong to that organization or project".into(),
            );
        }
        // The same reach as every route: project scopes in the project, organization scopes
        // for the organization as a whole.
        let held = match project {
            Some(_) => &principal.scopes,
            None => &principal.organization_scopes,
        };
        if !held.iter().any(|s| s == scope) {
            let there = if project.is_some() {
                "in its project"
            } else {
                "organization-wide"
            };
            return deny(
                "scope_not_held",
                format!("this key lacks the `{scope}` scope {there}"),
            );
        }
        if !self.registry.is_active("scope", scope) {
            return deny(
                "scope_inactive",
                format!("`{scope}` is not an active scope"),
            );
        }
        Decision {
            allow: true,
            reason: "allowed",
            message: "allowed".into(),
        }
    }
}
