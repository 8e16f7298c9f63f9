//! Row types of the tenancy tables.

use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::schema::{departments, organizations, projects, service_accounts};
use super::super::{Department, Organization, Project, ServiceAccount};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Organization {
        Organization {
            id: r.id,
            slug: r.slug,
            name: r.name,
            kind: r.kind,
            state: r.state,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = departments)]
pub struct DepartmentRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub slug: String,
    pub name: String,
    pub is_default: bool,
    pub created_at: OffsetDateTime,
}

impl From<DepartmentRow> for Department {
    fn from(r: DepartmentRow) -> Department {
        Department {
            id: r.id,
            organization_id: r.organization_id,
            slug: r.slug,
            name: r.name,
            is_default: r.is_default,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub department_id: Uuid,
    pub slug: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Project {
        Project {
            id: r.id,
            organization_id: r.organization_id,
            department_id: r.department_id,
            slug: r.slug,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_accounts)]
pub struct ServiceAccountRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub owner: String,
    pub purpose: String,
    pub created_at: OffsetDateTime,
    pub state: String,
    pub disabled_at: Option<OffsetDateTime>,
}

impl From<ServiceAccountRow> for ServiceAccount {
    fn from(r: ServiceAccountRow) -> ServiceAccount {
        ServiceAccount {
            id: r.id,
            organization_id: r.organization_id,
            project_id: r.project_id,
            name: r.name,
            owner: r.owner,
            purpose: r.purpose,
            created_at: r.created_at,
            state: r.state,
            disabled_at: r.disabled_at,
        }
    }
}
