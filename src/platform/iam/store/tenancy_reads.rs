//! Reading organizations, departments and projects by slug or id, for the store's own
//! changes and the `Tenancy` reads; an unknown slug is a not-found naming it.

use diesel::prelude::*;

use super::super::schema::{departments, organizations, projects};
use super::super::{Department, IamError, Organization, Project};
use super::rows::{DepartmentRow, OrganizationRow, ProjectRow};

pub(super) fn organization(
    conn: &mut PgConnection,
    slug: &str,
) -> Result<OrganizationRow, IamError> {
    organizations::table
        .filter(organizations::slug.eq(slug))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| IamError::NotFound(format!("no organization `{slug}`")))
}

/// The organization with `id`, if there is one.
pub fn organization_with_id(
    conn: &mut PgConnection,
    id: uuid::Uuid,
) -> Result<Option<Organization>, IamError> {
    Ok(organizations::table
        .find(id)
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .map(Organization::from))
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
