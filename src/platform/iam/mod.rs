//! IAM: the tenancy every module shares (organization → department → project), service
//! accounts, API keys and their in-memory read model, people and their memberships, roles
//! from the registry, access decisions, and portal sessions.

mod access;
pub mod api;
mod authors;
pub mod cli;
mod cli_keys;
pub mod cli_members;
mod cli_people;
mod keys;
mod members;
pub mod pages;
pub mod people;
mod schema;
mod store;
pub mod web;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub use access::{Access, Caller, Holdings, PLATFORM_SCOPE_MARKER, Place, Target};
pub use authors::Authors;
pub use keys::{
    ApiKeyView, Decision, IssuedKey, KeyHolder, Keys, NewKey, OrganizationId, Principal, ProjectId,
    ServiceAccount,
};
pub use members::{
    Invitation, IssuedInvitation, Member, Members, ORG_ROLES, PROJECT_ROLES, RoleBinding,
    org_role_id, project_role_id,
};
pub use people::{CurrentUser, People, SignedIn, User};

/// IAM as its adapters (routes, pages, commands) and other modules' adapters reach it:
/// one handle per capability trait, registered once as app data by the composition root.
#[derive(Clone)]
pub struct Iam {
    /// Organizations, departments, projects.
    pub tenancy: std::sync::Arc<dyn Tenancy>,
    /// Service accounts, API keys, authentication and decisions.
    pub keys: std::sync::Arc<dyn Keys>,
    /// Users and portal sessions.
    pub people: std::sync::Arc<dyn People>,
    /// Memberships, role bindings and invitations.
    pub members: std::sync::Arc<dyn Members>,
    /// Who may do what where.
    pub access: std::sync::Arc<dyn Access>,
    /// The registry, for the names IAM serves (scopes, roles).
    pub registry: std::sync::Arc<dyn crate::platform::registry::Registry>,
}
pub use store::{PgIam, flush_last_used_periodically};

use crate::base::db::DbError;
use crate::kit::error::ApiError;
use crate::platform::audit::AuditError;

/// Kind of organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// Made for one person at sign-up.
    Personal,
    /// A team's.
    Team,
}

impl OrgKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Personal => "personal",
            OrgKind::Team => "team",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<OrgKind> {
        [OrgKind::Personal, OrgKind::Team]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An organization: the tenant, billing and ownership root.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Organization {
    /// Id.
    pub id: Uuid,
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// personal or team.
    pub kind: String,
    /// active or suspended.
    pub state: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A department (cost center) of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Department {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization_id: Uuid,
    /// Slug, unique in the organization.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The department every organization starts with.
    pub is_default: bool,
}

/// A project: where keys, service accounts and usage live.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Project {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub organization_id: Uuid,
    /// Department, in the same organization.
    pub department_id: Uuid,
    /// Slug, unique in the organization.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A new organization with what comes with it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedOrganization {
    /// The organization.
    pub organization: Organization,
    /// Its `default` department.
    pub department: Department,
    /// Its `default` project.
    pub project: Project,
}

/// IAM failures.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// A value is not acceptable; nothing was written.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// Field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The slug is taken.
    #[error("{0}")]
    Conflict(String),
    /// The caller is not authenticated (no, unknown, revoked or expired key).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may see the target but lacks what the action needs.
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed sign-ins; try later.
    #[error("{0}")]
    Throttled(String),
    /// No such organization, department or project.
    #[error("{0}")]
    NotFound(String),
    /// The change could not be audited, so it was not made.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for IamError {
    fn from(err: diesel::result::Error) -> IamError {
        match DbError::from(err) {
            // A concurrent create won the race past the existence check.
            DbError::Conflict { constraint } => {
                log::info!("IAM write refused by constraint {constraint}");
                IamError::Conflict("it already exists".into())
            }
            other => IamError::Db(other),
        }
    }
}

impl From<IamError> for ApiError {
    fn from(err: IamError) -> ApiError {
        match err {
            IamError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            IamError::Conflict(detail) => ApiError::Conflict {
                detail,
                errors: Vec::new(),
            },
            IamError::NotFound(detail) => ApiError::NotFound(detail),
            IamError::Unauthenticated(detail) => ApiError::Unauthorized(detail),
            IamError::Throttled(detail) => ApiError::TooManyRequests(detail),
            IamError::Forbidden(detail) => ApiError::Forbidden(detail),
            IamError::Audit(audit) => audit.into(),
            IamError::Db(db) => db.into(),
        }
    }
}

/// Organizations, departments and projects.
#[async_trait::async_trait]
pub trait Tenancy: Send + Sync {
    /// Creates an organization with its `default` department and `default` project, and
    /// makes `owner` (an existing user's email) its owner, all in one audited transaction.
    async fn create_organization(
        &self,
        caller: &Caller,
        slug: &str,
        name: &str,
        kind: OrgKind,
        owner: Option<&str>,
    ) -> Result<CreatedOrganization, IamError>;

    /// Every organization, by slug.
    async fn organizations(&self) -> Result<Vec<Organization>, IamError>;

    /// Suspends (`active` false: its keys are denied) or reactivates an organization (its
    /// keys work again), audited; refused when it is in that state already.
    async fn set_organization_active(
        &self,
        caller: &Caller,
        slug: &str,
        active: bool,
    ) -> Result<Organization, IamError>;

    /// Creates a project in an organization's department (its default when `None`), audited.
    async fn create_project(
        &self,
        caller: &Caller,
        organization: &str,
        slug: &str,
        name: &str,
        department: Option<&str>,
    ) -> Result<Project, IamError>;

    /// An organization's projects, by slug.
    async fn projects(&self, organization: &str) -> Result<Vec<Project>, IamError>;

    /// Adds a department (cost center) to an organization, audited.
    async fn create_department(
        &self,
        caller: &Caller,
        organization: &str,
        slug: &str,
        name: &str,
    ) -> Result<Department, IamError>;

    /// An organization's departments, the default first.
    async fn departments(&self, organization: &str) -> Result<Vec<Department>, IamError>;

    /// The project with this id, from the in-memory tenancy snapshot (no database round
    /// trip): how other modules place ids they are handed, e.g. usage attribution.
    fn project_by_id(&self, project: ProjectId) -> Option<Project>;

    /// Where a project sits, its organization and department, from the same snapshot
    /// without copying the project: what request paths ask on every request.
    fn project_home(&self, project: ProjectId) -> Option<(OrganizationId, Uuid)>;

    /// The organization with this id, or `None`. Read from the database, not the snapshot,
    /// so one created a moment ago on another server is found too: how a module places an
    /// id it was handed from outside the platform (a payment processor's metadata), where
    /// a miss is recorded, not retried.
    async fn organization_by_id(
        &self,
        organization: OrganizationId,
    ) -> Result<Option<Organization>, IamError>;
}
