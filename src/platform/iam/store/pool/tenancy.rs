//! `Tenancy` on the blocking pool.

use crate::platform::audit::Actor;
use crate::platform::iam::store::{PgIam, check_name, check_slug, tenancy};
use crate::platform::iam::{
    CreatedOrganization, Department, IamError, OrgKind, Organization, Project, Tenancy,
};

#[async_trait::async_trait]
impl Tenancy for PgIam {
    async fn create_organization(
        &self,
        slug: &str,
        name: &str,
        kind: OrgKind,
        owner: Option<&str>,
        actor: Actor,
    ) -> Result<CreatedOrganization, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let (this, slug, name) = (self.clone(), slug.to_owned(), name.trim().to_owned());
        let owner = owner.map(str::to_owned);
        self.db
            .run(move |conn| {
                this.create_organization_on(conn, &slug, &name, kind, owner.as_deref(), actor)
            })
            .await
    }

    async fn organizations(&self) -> Result<Vec<Organization>, IamError> {
        self.db.run(tenancy::organizations).await
    }

    async fn set_organization_active(
        &self,
        slug: &str,
        active: bool,
        actor: Actor,
    ) -> Result<Organization, IamError> {
        let (this, slug) = (self.clone(), slug.to_owned());
        self.db
            .run(move |conn| this.set_org_state_on(conn, &slug, active, actor))
            .await
    }

    async fn create_project(
        &self,
        organization: &str,
        slug: &str,
        name: &str,
        department: Option<&str>,
        actor: Actor,
    ) -> Result<Project, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let this = self.clone();
        let (organization, slug, name) = (
            organization.to_owned(),
            slug.to_owned(),
            name.trim().to_owned(),
        );
        let department = department.map(str::to_owned);
        self.db
            .run(move |conn| {
                this.create_project_on(
                    conn,
                    &organization,
                    &slug,
                    &name,
                    department.as_deref(),
                    actor,
                )
            })
            .await
    }

    async fn create_department(
        &self,
        organization: &str,
        slug: &str,
        name: &str,
        actor: Actor,
    ) -> Result<Department, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let this = self.clone();
        let [organization, slug, name] = [organization, slug, name.trim()].map(str::to_owned);
        self.db
            .run(move |conn| this.create_department_on(conn, &organization, &slug, &name, actor))
            .await
    }

    async fn departments(&self, organization: &str) -> Result<Vec<Department>, IamError> {
        let organization = organization.to_owned();
        self.db
            .run(move |conn| tenancy::departments(conn, &organization))
            .await
    }

    async fn projects(&self, organization: &str) -> Result<Vec<Project>, IamError> {
        let organization = organization.to_owned();
        self.db
            .run(move |conn| tenancy::projects(conn, &organization))
            .await
    }
}
