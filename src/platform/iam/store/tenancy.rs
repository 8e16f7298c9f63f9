//! Organizations, departments and projects, each change audited in its transaction.

use diesel::prelude::*;

use super::super::schema::{departments, org_memberships, organizations, projects};
use super::super::{CreatedOrganization, Department, IamError, OrgKind, Organization, Project};
use super::rows::{DepartmentRow, OrganizationRow, ProjectRow};
use super::{PgIam, new_id};
use crate::platform::audit::{Actor, NewEvent};

const ORG_CREATED: &str = "platform.organization.created";
const ORG_SUSPENDED: &str = "platform.organization.suspended";
const ORG_REACTIVATED: &str = "platform.organization.reactivated";
const DEPARTMENT_CREATED: &str = "platform.department.created";
const PROJECT_CREATED: &str = "platform.project.created";
const DEFAULT: &str = "default";
const MEMBERSHIP_GRANTED: &str = "platform.membership.granted";

fn organization(conn: &mut PgConnection, slug: &str) -> Result<OrganizationRow, IamError> {
    organizations::table
        .filter(organizations::slug.eq(slug))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| IamError::NotFound(format!("no organization `{slug}`")))
}

pub fn organization_by_id(
    conn: &mut PgConnection,
    id: uuid::Uuid,
) -> Result<Organization, IamError> {
    Ok(organizations::table
        .find(id)
        .select(OrganizationRow::as_select())
        .first(conn)?
        .into())
}

pub fn organizations(conn: &mut PgConnection) -> Result<Vec<Organization>, IamError> {
    let rows: Vec<OrganizationRow> = organizations::table
        .order(organizations::slug)
        .select(OrganizationRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Organization::from).collect())
}

pub fn projects(
    conn: &mut PgConnection,
    organization_slug: &str,
) -> Result<Vec<Project>, IamError> {
    let org = organization(conn, organization_slug)?;
    let rows: Vec<ProjectRow> = projects::table
        .filter(projects::organization_id.eq(org.id))
        .order(projects::slug)
        .select(ProjectRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Project::from).collect())
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
                    super::people::user_by_email(conn, email)?
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

pub fn departments(
    conn: &mut PgConnection,
    organization_slug: &str,
) -> Result<Vec<Department>, IamError> {
    let org = organization(conn, organization_slug)?;
    let rows: Vec<DepartmentRow> = departments::table
        .filter(departments::organization_id.eq(org.id))
        .order((departments::is_default.desc(), departments::slug))
        .select(DepartmentRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Department::from).collect())
}
