//! Organizations, departments and projects: the `Tenancy` trait and its changes, each
//! audited in its transaction (reads in `tenancy_reads.rs`).

use diesel::prelude::*;

use super::super::schema::{departments, org_memberships, organizations, projects};
use super::super::{
    Caller, CreatedOrganization, Department, IamError, OrgKind, Organization, OrganizationId,
    Project, ProjectId, Target, Tenancy,
};
use super::rows::{DepartmentRow, OrganizationRow, ProjectRow};
use super::tenancy_reads::{self, organization};
use super::{PgIam, check_name, check_slug, new_id};
use crate::platform::audit::{Actor, NewEvent};

/// Creating, suspending and reactivating organizations is the platform's.
const ORG_MANAGE: &str = "platform.org.manage";
/// Departments and projects are made by whoever writes IAM in the organization.
const IAM_WRITE: &str = "platform.iam.write";
const ORG_CREATED: &str = "platform.organization.created";
const ORG_SUSPENDED: &str = "platform.organization.suspended";
const ORG_REACTIVATED: &str = "platform.organization.reactivated";
const DEPARTMENT_CREATED: &str = "platform.department.created";
const PROJECT_CREATED: &str = "platform.project.created";
const DEFAULT: &str = "default";
const MEMBERSHIP_GRANTED: &str = "platform.membership.granted";

/// Every change goes through `changing_places`: the next request this process serves is
/// placed by the new tenancy.
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
        let (slug, name) = (slug.to_owned(), name.trim().to_owned());
        let owner = owner.map(str::to_owned);
        let may = (ORG_MANAGE, Target::Platform);
        self.changing_places(caller, may, move |this, conn, actor| {
            this.create_organization_on(conn, &slug, &name, kind, owner.as_deref(), actor)
        })
        .await
    }

    async fn organizations(&self) -> Result<Vec<Organization>, IamError> {
        self.db.run(tenancy_reads::organizations).await
    }

    async fn set_organization_active(
        &self,
        caller: &Caller,
        slug: &str,
        active: bool,
    ) -> Result<Organization, IamError> {
        let slug = slug.to_owned();
        let may = (ORG_MANAGE, Target::Platform);
        self.changing_places(caller, may, move |this, conn, actor| {
            this.set_organization_active_on(conn, &slug, active, actor)
        })
        .await
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
        let [org, slug, name] = [organization, slug, name.trim()].map(str::to_owned);
        let department = department.map(str::to_owned);
        let may = (IAM_WRITE, Target::org(&org));
        self.changing_places(caller, may, move |this, conn, actor| {
            let department = department.as_deref();
            this.create_project_on(conn, &org, &slug, &name, department, actor)
        })
        .await
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
        let [org, slug, name] = [organization, slug, name.trim()].map(str::to_owned);
        let may = (IAM_WRITE, Target::org(&org));
        self.changing_places(caller, may, move |this, conn, actor| {
            this.create_department_on(conn, &org, &slug, &name, actor)
        })
        .await
    }

    async fn departments(&self, organization: &str) -> Result<Vec<Department>, IamError> {
        let organization = organization.to_owned();
        self.db
            .run(move |conn| tenancy_reads::departments(conn, &organization))
            .await
    }

    async fn projects(&self, organization: &str) -> Result<Vec<Project>, IamError> {
        let organization = organization.to_owned();
        self.db
            .run(move |conn| tenancy_reads::projects(conn, &organization))
            .await
    }

    fn project_by_id(&self, project: ProjectId) -> Option<Project> {
        self.places.get().project(project.0).cloned()
    }

    fn project_home(&self, project: ProjectId) -> Option<(OrganizationId, uuid::Uuid)> {
        let (organization, department) = self.places.get().home(project.0)?;
        Some((OrganizationId(organization), department))
    }

    async fn organization_by_id(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<Organization>, IamError> {
        self.db
            .run(move |conn| tenancy_reads::organization_with_id(conn, organization.0))
            .await
    }
}

impl PgIam {
    fn audited(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        action: &str,
        target: (&str, String),
        scope: [Option<uuid::Uuid>; 3],
    ) -> Result<(), IamError> {
        let mut event = NewEvent::new(actor.clone(), action, target.0, &target.1);
        [event.organization_id, event.department_id, event.project_id] = scope;
        self.audit.append_in(conn, event)?;
        // Every server's tenancy snapshot reloads on it, and so does its key read model: a
        // suspension denies the organization's keys.
        for channel in [super::places::CHANNEL, super::read_model::CHANNEL] {
            diesel::sql_query(format!("NOTIFY {channel}")).execute(conn)?;
        }
        Ok(())
    }

    pub(super) fn create_organization_on(
        &self,
        conn: &mut PgConnection,
        slug: &str,
        name: &str,
        kind: OrgKind,
        owner: Option<&str>,
        actor: Actor,
    ) -> Result<CreatedOrganization, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let owner = match owner {
                None => None,
                Some(email) => Some(
                    super::accounts::user_by_email(conn, email)?
                        .ok_or_else(|| IamError::Invalid {
                            field: "owner",
                            reason: format!("no user `{email}`; create the user first"),
                        })?
                        .0,
                ),
            };
            let taken: i64 = organizations::table
                .filter(organizations::slug.eq(slug))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(IamError::Conflict(format!(
                    "organization `{slug}` already exists"
                )));
            }
            let org = OrganizationRow {
                id: new_id(),
                slug: slug.into(),
                name: name.into(),
                kind: kind.as_str().into(),
                state: "active".into(),
                created_at: now,
                updated_at: now,
            };
            let department = DepartmentRow {
                id: new_id(),
                organization_id: org.id,
                slug: DEFAULT.into(),
                name: "Default".into(),
                is_default: true,
                created_at: now,
            };
            let project = ProjectRow {
                id: new_id(),
                organization_id: org.id,
                department_id: department.id,
                slug: DEFAULT.into(),
                name: "Default".into(),
                created_at: now,
            };
            diesel::insert_into(organizations::table)
                .values(&org)
                .execute(conn)?;
            diesel::insert_into(departments::table)
                .values(&department)
                .execute(conn)?;
            diesel::insert_into(projects::table)
                .values(&project)
                .execute(conn)?;
            self.audited(
                conn,
                &actor,
                ORG_CREATED,
                ("organization", org.id.to_string()),
                [Some(org.id), None, None],
            )?;
            self.audited(
                conn,
                &actor,
                DEPARTMENT_CREATED,
                ("department", department.id.to_string()),
                [Some(org.id), Some(department.id), None],
            )?;
            self.audited(
                conn,
                &actor,
                PROJECT_CREATED,
                ("project", project.id.to_string()),
                [Some(org.id), Some(department.id), Some(project.id)],
            )?;
            if let Some(owner) = owner {
                diesel::insert_into(org_memberships::table)
                    .values((
                        org_memberships::organization_id.eq(org.id),
                        org_memberships::user_id.eq(owner.0),
                        org_memberships::role.eq("owner"),
                        org_memberships::created_at.eq(now),
                    ))
                    .execute(conn)?;
                let mut event = NewEvent::new(
                    actor.clone(),
                    MEMBERSHIP_GRANTED,
                    "membership",
                    &owner.0.to_string(),
                );
                event.organization_id = Some(org.id);
                event.details = serde_json::json!({ "level": "organization", "role": "owner" });
                self.audit.append_in(conn, event)?;
            }
            Ok(CreatedOrganization {
                organization: org.into(),
                department: department.into(),
                project: project.into(),
            })
        })
    }

    /// Suspends (`active` false) or reactivates an organization. Suspension denies its keys
    /// on every server at once; reactivation lets them work again.
    pub(super) fn set_organization_active_on(
        &self,
        conn: &mut PgConnection,
        slug: &str,
        active: bool,
        actor: Actor,
    ) -> Result<Organization, IamError> {
        let (wanted, action, subject) = match active {
            true => (
                "active",
                ORG_REACTIVATED,
                "platform.iam.organization_reactivated",
            ),
            false => (
                "suspended",
                ORG_SUSPENDED,
                "platform.iam.organization_suspended",
            ),
        };
        let now = self.clock.now();
        conn.transaction(|conn| {
            let org = organization(conn, slug)?;
            if org.state == wanted {
                return Err(IamError::Conflict(format!(
                    "organization `{slug}` is already {wanted}"
                )));
            }
            let updated: OrganizationRow = diesel::update(organizations::table.find(org.id))
                .set((
                    organizations::state.eq(wanted),
                    organizations::updated_at.eq(now),
                ))
                .returning(OrganizationRow::as_returning())
                .get_result(conn)?;
            self.audited(
                conn,
                &actor,
                action,
                ("organization", org.id.to_string()),
                [Some(org.id), None, None],
            )?;
            let payload =
                serde_json::json!({ "organization_id": org.id, "slug": org.slug, "state": wanted });
            self.announce(conn, subject, payload)?;
            Ok(updated.into())
        })
    }

    pub(super) fn create_project_on(
        &self,
        conn: &mut PgConnection,
        organization_slug: &str,
        slug: &str,
        name: &str,
        department_slug: Option<&str>,
        actor: Actor,
    ) -> Result<Project, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let org = organization(conn, organization_slug)?;
            let mut department = departments::table
                .filter(departments::organization_id.eq(org.id))
                .into_boxed();
            department = match department_slug {
                Some(d) => department.filter(departments::slug.eq(d.to_owned())),
                None => department.filter(departments::is_default.eq(true)),
            };
            let department: DepartmentRow = department
                .select(DepartmentRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    IamError::NotFound(format!(
                        "no department `{}` in `{organization_slug}`",
                        department_slug.unwrap_or(DEFAULT)
                    ))
                })?;
            let taken: i64 = projects::table
                .filter(projects::organization_id.eq(org.id))
                .filter(projects::slug.eq(slug))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(IamError::Conflict(format!(
                    "project `{slug}` already exists in `{organization_slug}`"
                )));
            }
            let project = ProjectRow {
                id: new_id(),
                organization_id: org.id,
                department_id: department.id,
                slug: slug.into(),
                name: name.into(),
                created_at: now,
            };
            diesel::insert_into(projects::table)
                .values(&project)
                .execute(conn)?;
            self.audited(
                conn,
                &actor,
                PROJECT_CREATED,
                ("project", project.id.to_string()),
                [Some(org.id), Some(department.id), Some(project.id)],
            )?;
            Ok(project.into())
        })
    }

    pub(super) fn create_department_on(
        &self,
        conn: &mut PgConnection,
        organization_slug: &str,
        slug: &str,
        name: &str,
        actor: Actor,
    ) -> Result<Department, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let org = organization(conn, organization_slug)?;
            let taken: i64 = departments::table
                .filter(departments::organization_id.eq(org.id))
                .filter(departments::slug.eq(slug))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(IamError::Conflict(format!(
                    "department `{slug}` already exists in `{organization_slug}`"
                )));
            }
            let department = DepartmentRow {
                id: new_id(),
                organization_id: org.id,
                slug: slug.into(),
                name: name.into(),
                is_default: false,
                created_at: now,
            };
            diesel::insert_into(departments::table)
                .values(&department)
                .execute(conn)?;
            self.audited(
                conn,
                &actor,
                DEPARTMENT_CREATED,
                ("department", department.id.to_string()),
                [Some(org.id), Some(department.id), None],
            )?;
            Ok(department.into())
        })
    }
}
