//! `Keys` on the blocking pool; authentication and decisions stay in memory.

use crate::platform::iam::store::{MAX_NAME, PgIam, check_slug, check_text};
use crate::platform::iam::{
    ApiKeyView, Caller, Decision, IamError, IssuedKey, Keys, NewKey, OrganizationId, Principal,
    Project, ProjectId, ServiceAccount,
};

#[async_trait::async_trait]
impl Keys for PgIam {
    async fn create_service_account(
        &self,
        caller: &Caller,
        organization: &str,
        project: &str,
        name: &str,
        owner: &str,
        purpose: &str,
    ) -> Result<ServiceAccount, IamError> {
        check_slug("name", name)?;
        check_text("owner", owner, MAX_NAME)?;
        check_text("purpose", purpose, MAX_NAME)?;
        let (this, caller) = (self.clone(), caller.clone());
        let args: [String; 5] = [organization, project, name, owner, purpose].map(str::to_owned);
        self.db
            .run(move |conn| {
                let [o, p, n, w, u] = &args;
                this.create_service_account_on(conn, &caller, (o, p, n, w, u))
            })
            .await
    }

    async fn disable_service_account(
        &self,
        caller: &Caller,
        organization: &str,
        project: &str,
        name: &str,
    ) -> Result<ServiceAccount, IamError> {
        let (this, caller) = (self.clone(), caller.clone());
        let args: [String; 3] = [organization, project, name].map(str::to_owned);
        let disabled = self
            .db
            .run(move |conn| {
                let [o, p, n] = &args;
                this.disable_service_account_on(conn, &caller, (o, p, n))
            })
            .await?;
        self.reload().await?;
        Ok(disabled)
    }

    async fn issue_key(&self, caller: &Caller, key: NewKey) -> Result<IssuedKey, IamError> {
        if key.name.trim().is_empty() {
            return Err(IamError::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
        }
        let (this, caller) = (self.clone(), caller.clone());
        let issued = self
            .db
            .run(move |conn| this.issue_key_on(conn, &caller, key))
            .await?;
        self.reload().await?;
        Ok(issued)
    }

    async fn service_accounts(&self, project: &Project) -> Result<Vec<ServiceAccount>, IamError> {
        let project = project.id;
        self.db
            .run(move |conn| PgIam::service_accounts_on(conn, project))
            .await
    }

    async fn key(&self, prefix: &str) -> Result<ApiKeyView, IamError> {
        let prefix = prefix.to_owned();
        self.db.run(move |conn| PgIam::key_on(conn, &prefix)).await
    }

    async fn keys(&self, project: &Project) -> Result<Vec<ApiKeyView>, IamError> {
        let project = project.id;
        self.db.run(move |conn| PgIam::keys_on(conn, project)).await
    }

    async fn revoke_key(&self, caller: &Caller, prefix: &str) -> Result<ApiKeyView, IamError> {
        let (this, caller, prefix) = (self.clone(), caller.clone(), prefix.to_owned());
        let revoked = self
            .db
            .run(move |conn| this.revoke_key_on(conn, &caller, &prefix))
            .await?;
        self.reload().await?;
        Ok(revoked)
    }

    async fn rotate_key(
        &self,
        caller: &Caller,
        prefix: &str,
        grace: std::time::Duration,
    ) -> Result<IssuedKey, IamError> {
        let (this, caller, prefix) = (self.clone(), caller.clone(), prefix.to_owned());
        let issued = self
            .db
            .run(move |conn| this.rotate_key_on(conn, &caller, &prefix, grace))
            .await?;
        self.reload().await?;
        Ok(issued)
    }

    fn authenticate(&self, bearer: &str) -> Result<Principal, IamError> {
        self.authenticate_in_memory(bearer)
    }

    async fn flush_last_used(&self) -> Result<usize, IamError> {
        self.write_last_used().await
    }

    fn decide(
        &self,
        principal: &Principal,
        scope: &str,
        organization: OrganizationId,
        project: Option<ProjectId>,
    ) -> Decision {
        self.decide_now(principal, scope, organization.0, project.map(|p| p.0))
    }
}
