//! Authentication and decisions, from the in-memory read model only: no database.

use uuid::Uuid;

use super::super::{Decision, IamError, Principal};
use super::PgIam;
use super::reach::{Refusal, key_reach, scope_active};
use super::read_model;

impl PgIam {
    pub(super) fn authenticate_in_memory(&self, bearer: &str) -> Result<Principal, IamError> {
        let denied = || {
            IamError::Unauthenticated(
                "a valid API key is required (Authorization: Bearer aic_...)".into(),
            )
        };
        let rest = bearer.strip_prefix("aic_").ok_or_else(denied)?;
        let (prefix, secret) = rest.split_once('_').ok_or_else(denied)?;
        let keys = self.keys.get();
        let entry = keys.get(prefix).ok_or_else(denied)?;
        if !read_model::same(&entry.secret_sha256, &read_model::digest(secret)) {
            return Err(denied());
        }
        let now = self.clock.now();
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Err(denied());
        }
        self.last_used.record(prefix, now);
        Ok(entry.principal.clone())
    }

    /// Whether `principal` may use `scope` there, by the one key-scope rule
    /// ([`key_reach`]) that route authorization follows too.
    pub(super) fn decide_now(
        &self,
        principal: &Principal,
        scope: &str,
        organization: Uuid,
        project: Option<Uuid>,
    ) -> Decision {
        let reach = key_reach(principal, Some(organization), project);
        let (reason, message) = match reach.check(scope, scope_active(self.registry.as_ref())) {
            Ok(()) => ("allowed", "allowed".into()),
            Err(Refusal::OtherTenant) => (
                "other_tenant",
                "this key does not belong to that organization or project".into(),
            ),
            Err(Refusal::NotHeld) => (
                "scope_not_held",
                format!(
                    "this key lacks the `{scope}` scope {}",
                    match project {
                        Some(_) => "in that project",
                        None => "organization-wide",
                    }
                ),
            ),
            Err(Refusal::Inactive) => (
                "scope_inactive",
                format!("`{scope}` is not an active scope"),
            ),
        };
        Decision {
            allow: reason == "allowed",
            reason,
            message,
        }
    }
}
