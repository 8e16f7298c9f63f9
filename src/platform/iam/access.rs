//! Authorization: who is calling, where they act, and whether they hold a scope there.
//!
//! Scopes come only from registry roles: platform roles apply everywhere, an organization
//! membership applies to the organization and all its projects, a project membership and
//! project role bindings to their project. A key holds exactly the scopes it was issued with,
//! inside its own project (and, for reads of the organization around it, its organization);
//! it acts at platform scope only when it holds `platform.admin`.

use std::collections::BTreeSet;

use super::{IamError, Organization, Principal, Project, User};
use crate::platform::audit::{Actor, ActorKind};

/// Scope that lets a key act at platform scope, declared by the platform's packet.
pub const PLATFORM_SCOPE_MARKER: &str = "platform.admin";

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An API key (of a service account or of a user).
    Key(Principal),
    /// A person signed in to the portal.
    User(User),
    /// An administrator at the server's command line, trusted like a platform administrator:
    /// whoever runs it already holds the database credentials.
    Console(String),
}

impl Caller {
    /// How audit records this caller.
    pub fn actor(&self) -> Actor {
        match self {
            Caller::Key(p) => Actor {
                kind: ActorKind::ApiKey,
                id: p.key_prefix.clone(),
                role: None,
                on_behalf_of: Some(format!("{}:{}", p.kind, p.id)),
            },
            Caller::User(u) => Actor {
                kind: ActorKind::User,
                id: u.id.to_string(),
                role: u.platform_roles.first().cloned(),
                on_behalf_of: None,
            },
            Caller::Console(id) => Actor::system(id.clone()),
        }
    }

    /// The administrator's console, running an `aicloud` command as the operating-system
    /// user `kit::cli::operator` names.
    pub fn operator() -> Caller {
        Caller::Console(crate::kit::cli::operator())
    }

    /// The user behind the call: a signed-in person, or the owner of a user key.
    pub fn user_id(&self) -> Option<uuid::Uuid> {
        match self {
            Caller::User(u) => Some(u.id),
            Caller::Key(p) if p.kind == "user" => Some(p.id),
            _ => None,
        }
    }
}

/// Where an action happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The whole platform (registry writes, every tenant).
    Platform,
    /// An organization, by slug.
    Organization(String),
    /// A project, by organization and project slug.
    Project(String, String),
}

impl Target {
    /// A project target.
    pub fn project(org: &str, project: &str) -> Target {
        Target::Project(org.into(), project.into())
    }

    /// An organization target.
    pub fn org(org: &str) -> Target {
        Target::Organization(org.into())
    }
}

/// A target the caller may act on, resolved.
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// The organization, unless the target is the platform.
    pub organization: Option<Organization>,
    /// The project, for project targets.
    pub project: Option<Project>,
}

impl Place {
    /// The organization; callers only ask for it of organization and project targets.
    pub fn org(&self) -> Result<&Organization, IamError> {
        self.organization
            .as_ref()
            .ok_or_else(|| IamError::NotFound("no organization in this target".into()))
    }

    /// The project; callers only ask for it of project targets.
    pub fn project(&self) -> Result<&Project, IamError> {
        self.project
            .as_ref()
            .ok_or_else(|| IamError::NotFound("no project in this target".into()))
    }
}

/// The scopes a caller holds at a place, and through what.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// Registry roles in effect (platform, membership and bound product roles).
    pub roles: BTreeSet<String>,
    /// Active scopes those roles (or the key) grant.
    pub scopes: BTreeSet<String>,
    /// The caller's organization role there, if a member.
    pub org_role: Option<String>,
    /// The caller's project role there, if a project member.
    pub project_role: Option<String>,
    /// Whether the caller may see the place at all.
    pub visible: bool,
    /// Whether the caller acts with platform-wide authority (platform roles or the console).
    pub platform_wide: bool,
    /// The console holds every scope.
    pub everything: bool,
}

impl Holdings {
    /// Whether `scope` is held.
    pub fn holds(&self, scope: &str) -> bool {
        self.everything || self.scopes.contains(scope)
    }
}

/// Authorization decisions for HTTP routes, pages and commands.
#[async_trait::async_trait]
pub trait Access: Send + Sync {
    /// Resolves `target` and checks that `caller` holds `scope` there. A target the caller
    /// cannot see is `NotFound`, exactly like one that does not exist; a visible one without
    /// the scope is `Forbidden`.
    async fn authorize(
        &self,
        caller: &Caller,
        scope: &str,
        target: Target,
    ) -> Result<Place, IamError>;

    /// What `caller` holds at `target` (not found when it cannot see it).
    async fn holdings(
        &self,
        caller: &Caller,
        target: Target,
    ) -> Result<(Place, Holdings), IamError>;

    /// Organizations the caller can see: all of them with platform-wide `platform.iam.read`.
    async fn visible_organizations(&self, caller: &Caller) -> Result<Vec<Organization>, IamError>;
}
