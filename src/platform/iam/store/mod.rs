//! `PgIam`: IAM over PostgreSQL schema `iam`.

mod rows;
mod tenancy;

use std::sync::Arc;

use uuid::Uuid;

use super::{CreatedOrganization, IamError, OrgKind, Organization, Project, Tenancy};
use crate::clock::Clock;
use crate::db::Db;
use crate::platform::audit::{Actor, Audit};

/// IAM backed by PostgreSQL.
#[derive(Clone)]
pub struct PgIam {
    db: Db,
    audit: Arc<dyn Audit>,
    clock: Arc<dyn Clock>,
}

impl PgIam {
    /// IAM over `db`, auditing through `audit`.
    pub fn new(db: Db, audit: Arc<dyn Audit>, clock: Arc<dyn Clock>) -> PgIam {
        PgIam { db, audit, clock }
    }
}

/// Slugs: lowercase letters, digits and `-`, starting with a letter or digit, at most 63.
fn check_slug(field: &'static str, slug: &str) -> Result<(), IamError> {
    let ok = (1..=63).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match ok {
        true => Ok(()),
        false => Err(IamError::Invalid {
            field,
            reason: format!(
                "`{slug}` must be 1 to 63 lowercase letters, digits and -, starting with a letter or digit"
            ),
        }),
    }
}

fn check_name(name: &str) -> Result<(), IamError> {
    match (1..=200).contains(&name.trim().chars().count()) {
        true => Ok(()),
        false => Err(IamError::Invalid {
            field: "name",
            reason: "must be 1 to 200 characters".into(),
        }),
    }
}

#[async_trait::async_trait]
impl Tenancy for PgIam {
    async fn create_organization(
        &self,
        slug: &str,
        name: &str,
        kind: OrgKind,
        actor: Actor,
    ) -> Result<CreatedOrganization, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let (this, slug, name) = (self.clone(), slug.to_owned(), name.trim().to_owned());
        self.db
            .run(move |conn| this.create_organization_on(conn, &slug, &name, kind, actor))
            .await
    }

    async fn organizations(&self) -> Result<Vec<Organization>, IamError> {
        self.db.run(tenancy::organizations).await
    }

    async fn suspend_organization(
        &self,
        slug: &str,
        actor: Actor,
    ) -> Result<Organization, IamError> {
        let (this, slug) = (self.clone(), slug.to_owned());
        self.db
            .run(move |conn| this.suspend_on(conn, &slug, actor))
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

    async fn projects(&self, organization: &str) -> Result<Vec<Project>, IamError> {
        let organization = organization.to_owned();
        self.db
            .run(move |conn| tenancy::projects(conn, &organization))
            .await
    }
}

fn new_id() -> Uuid {
    Uuid::now_v7()
}
