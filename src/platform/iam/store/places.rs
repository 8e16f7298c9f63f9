//! Every organization and project, in memory: what an API key's request needs to place its
//! target without a database round trip. Kept fresh like the key read model, on a channel
//! of its own that every tenancy change notifies (key changes do not: they move no place);
//! this process reloads at once after its own changes.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::{organizations, projects};
use super::super::{IamError, Organization, Place, Project, Target};
use super::access::not_found;
use super::rows::{OrganizationRow, ProjectRow};
use crate::base::db::snapshot::Freshness;

/// Channel notified on every change to organizations, departments and projects.
pub const CHANNEL: &str = "iam_tenancy_changed";

/// As fresh as the key read model: a suspension or a new project is seen within a second.
pub const FRESHNESS: Freshness = Freshness {
    channel: CHANNEL,
    poll: Duration::from_millis(100),
    resync: Duration::from_secs(30),
};

/// Organizations by slug, projects by organization and slug.
#[derive(Debug, Default)]
pub struct Places {
    organizations: HashMap<String, Organization>,
    projects: HashMap<(Uuid, String), Project>,
    project_ids: HashMap<Uuid, (Uuid, String)>,
    /// Each project's organization and department, by project id: what request paths ask
    /// on every request (foldhash: the ids are the server's own).
    homes: HashMap<Uuid, (Uuid, Uuid), foldhash::fast::RandomState>,
}

impl Places {
    /// A project's organization and department.
    pub fn home(&self, id: Uuid) -> Option<(Uuid, Uuid)> {
        self.homes.get(&id).copied()
    }

    /// The project with this id.
    pub fn project(&self, id: Uuid) -> Option<&Project> {
        self.projects.get(self.project_ids.get(&id)?)
    }

    /// The place `target` names, or the same not-found answer `access::resolve` gives.
    pub fn resolve(&self, target: &Target) -> Result<Place, IamError> {
        let (org_slug, project_slug) = match target {
            Target::Platform => return Ok(Place::default()),
            Target::Organization(org) => (org, None),
            Target::Project(org, project) => (org, Some(project)),
        };
        let org = self
            .organizations
            .get(org_slug)
            .ok_or_else(|| not_found(&Target::org(org_slug)))?;
        let project = match project_slug {
            None => None,
            Some(slug) => Some(
                self.projects
                    .get(&(org.id, slug.clone()))
                    .ok_or_else(|| not_found(target))?
                    .clone(),
            ),
        };
        Ok(Place {
            organization: Some(org.clone()),
            project,
        })
    }
}

/// Loads every organization and project.
pub fn load(conn: &mut PgConnection) -> QueryResult<Places> {
    let organizations = organizations::table
        .select(OrganizationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Organization::from)
        .map(|o| (o.slug.clone(), o))
        .collect();
    let projects: HashMap<(Uuid, String), Project> = projects::table
        .select(ProjectRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Project::from)
        .map(|p| ((p.organization_id, p.slug.clone()), p))
        .collect();
    let project_ids = projects
        .iter()
        .map(|(key, p)| (p.id, key.clone()))
        .collect();
    let homes = projects
        .values()
        .map(|p| (p.id, (p.organization_id, p.department_id)))
        .collect();
    Ok(Places {
        organizations,
        projects,
        project_ids,
        homes,
    })
}
