//! `Members` on the blocking pool; access changes reload this process's read model.

use uuid::Uuid;

use crate::platform::iam::store::{PgIam, tenancy};
use crate::platform::iam::{
    Caller, IamError, Invitation, IssuedInvitation, Member, Members, Organization, Project,
    RoleBinding,
};

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
        let (caller, org, email, role) = (
            caller.clone(),
            org.clone(),
            email.to_owned(),
            role.to_owned(),
        );
        changing_access!(self, |this, conn| this
            .set_org_member_on(conn, &caller, &org, &email, &role))
    }

    async fn remove_org_member(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
    ) -> Result<(), IamError> {
        let (caller, org, email) = (caller.clone(), org.clone(), email.to_owned());
        changing_access!(self, |this, conn| this
            .remove_org_member_on(conn, &caller, &org, &email))
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
        let (caller, project, email, role) = (
            caller.clone(),
            project.clone(),
            email.to_owned(),
            role.to_owned(),
        );
        changing_access!(self, |this, conn| {
            let org = tenancy::organization_by_id(conn, project.organization_id)?;
            this.set_project_member_on(conn, &caller, &org, &project, &email, &role)
        })
    }

    async fn remove_project_member(
        &self,
        caller: &Caller,
        project: &Project,
        email: &str,
    ) -> Result<(), IamError> {
        let (caller, project, email) = (caller.clone(), project.clone(), email.to_owned());
        changing_access!(self, |this, conn| {
            let org = tenancy::organization_by_id(conn, project.organization_id)?;
            this.remove_project_member_on(conn, &caller, &org, &project, &email)
        })
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
        let (email, role) = (email.to_owned(), role.to_owned());
        changing_access!(self, |this, conn| this.grant_role_on(
            conn,
            &caller,
            &org,
            project.as_ref(),
            &email,
            &role
        ))
    }

    async fn revoke_role(
        &self,
        caller: &Caller,
        org: &Organization,
        binding: Uuid,
    ) -> Result<(), IamError> {
        let (caller, org) = (caller.clone(), org.clone());
        changing_access!(self, |this, conn| this
            .revoke_role_on(conn, &caller, &org, binding))
    }

    async fn invite(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
        valid_for: time::Duration,
    ) -> Result<IssuedInvitation, IamError> {
        let (caller, org, email, role) = (
            caller.clone(),
            org.clone(),
            email.to_owned(),
            role.to_owned(),
        );
        on_pool!(self, |this, conn| this
            .invite_on(conn, &caller, &org, &email, &role, valid_for))
    }

    async fn invitations(&self, org: &Organization) -> Result<Vec<Invitation>, IamError> {
        let org = org.clone();
        self.db
            .run(move |conn| PgIam::invitations_on(conn, &org))
            .await
    }

    async fn invitation(&self, token: &str) -> Result<Invitation, IamError> {
        let token = token.to_owned();
        on_pool!(self, |this, conn| this
            .open_invitation_on(conn, &token)
            .map(|(_, i)| i))
    }

    async fn join(&self, token: &str, display_name: &str, password: &str) -> Result<(), IamError> {
        let [token, name, password] = [token, display_name, password].map(str::to_owned);
        on_pool!(self, |this, conn| this
            .join_on(conn, &token, &name, &password))
    }

    async fn accept_invitation(&self, token: &str, user_id: Uuid) -> Result<Member, IamError> {
        let token = token.to_owned();
        changing_access!(self, |this, conn| this
            .accept_invitation_on(conn, &token, user_id))
    }
}
