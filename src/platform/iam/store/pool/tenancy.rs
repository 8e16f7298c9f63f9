//! `Tenancy` on the blocking pool.

use crate::platform::iam::store::{PgIam, check_name, check_slug, tenancy};
use crate::platform::iam::{
    Caller, CreatedOrganization, Department, IamError, OrgKind, Organization, Project, Target,
    Tenancy,
};

/// Creating, suspending and reactivating organizations is the platform's.
const ORG_MANAGE: &str = "platform.org.manage";
/// Departments and projects are made by whoever writes IAM in the organization.
const IAM_WRITE: &str = "platform.iam.write";

#[async_trait::async_trait]
impl Tenancy for PgIam {
    async fn create_organization(
        &self,
        caller: &Caller,
        slug: &str,
        name: &str,
        kind: OrgKind,
        owner: Option<&str>,
    ) -> Result<CreatedOrganization, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let (this, caller) = (self.clone(), caller.clone());
        let (slug, name) = (slug.to_owned(), name.trim().to_owned());
        let owner = owner.map(str::to_owned);
        let done = self
            .db
            .run(move |conn| {
                let may = (&caller, ORG_MANAGE, &Target::Platform);
                this.authorized_on(conn, may, |conn, actor| {
                    this.create_organization_on(conn, &slug, &name, kind, owner.as_deref(), actor)
                })
            })
            .await?;
        self.reload_places().await?;
        Ok(done)
    }

    async fn organizations(&self) -> Result<Vec<Organization>, IamError> {
        self.db.run(tenancy::organizations).await
    }

    async fn set_organization_active(
        &self,
        caller: &Caller,
        slug: &str,
        active: bool,
    ) -> Result<Organization, IamError> {
        let (this, caller, slug) = (self.clone(), caller.clone(), slug.to_owned());
        let done = self
            .db
            .run(move |conn| {
                let may = (&caller, ORG_MANAGE, &Target::Platform);
                this.authorized_on(conn, may, |conn, actor| {
                    this.set_organization_active_on(conn, &slug, active, actor)
                })
            })
            .await?;
        self.reload_places().await?;
        Ok(done)
    }

    async fn create_project(
        &self,
        caller: &Caller,
        organization: &str,
        slug: &str,
        name: &str,
        department: Option<&str>,
    ) -> Result<Project, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let (this, caller) = (self.clone(), caller.clone());
        let (organization, slug, name) = (
            organization.to_owned(),
            slug.to_owned(),
            name.trim().to_owned(),
        );
        let department = department.map(str::to_owned);
        let done = self
            .db
            .run(move |conn| {
                let target = Target::org(&organization);
                this.authorized_on(conn, (&caller, IAM_WRITE, &target), |conn, actor| {
                    let department = department.as_deref();
                    this.create_project_on(conn, &organization, &slug, &name, department, actor)
                })
            })
            .await?;
        self.reload_places().await?;
        Ok(done)
    }

    async fn create_department(
        &self,
        caller: &Caller,
        organization: &str,
        slug: &str,
        name: &str,
    ) -> Result<Department, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let (this, caller) = (self.clone(), caller.clone());
        let [organization, slug, name] = [organization, slug, name.trim()].map(str::to_owned);
        let done = self
            .db
            .run(move |conn| {
                let target = Target::org(&organization);
                this.authorized_on(conn, (&caller, IAM_WRITE, &target), |conn, actor| {
                    this.create_department_on(conn, &organization, &slug, &name, actor)
                })
            })
            .await?;
        self.reload_places().await?;
        Ok(done)
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
