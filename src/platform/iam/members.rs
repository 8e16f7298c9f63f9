//! Memberships, role bindings and invitations: how people get access to an organization.
//!
//! Every call takes the `Caller` doing it, because what may be granted depends on who grants:
//! only an owner (or the platform) makes owners, nobody grants a role carrying scopes they do
//! not hold themselves (an organization's owner excepted: it is the tenant's root), and an
//! organization always keeps at least one owner.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Caller, IamError, Organization, Project};

/// Organization roles, each backed by the registry role `platform.org_<role>`.
pub const ORG_ROLES: [&str; 4] = ["owner", "admin", "member", "viewer"];
/// Project roles, each backed by the registry role `platform.project_<role>`.
pub const PROJECT_ROLES: [&str; 3] = ["admin", "developer", "viewer"];

/// The registry role behind an organization role.
pub fn org_role_id(role: &str) -> String {
    format!("platform.org_{role}")
}

/// The registry role behind a project role.
pub fn project_role_id(role: &str) -> String {
    format!("platform.project_{role}")
}

/// A member of an organization or project.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// The user's id.
    pub user_id: Uuid,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role in the organization or project.
    pub role: String,
    /// Since.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Whether the member's email address was ever proven (see `User::email_verified`).
    pub email_verified: bool,
}

/// A registry role bound to a member, in the organization or one of its projects.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RoleBinding {
    /// Id.
    pub id: Uuid,
    /// Email of the member.
    pub email: String,
    /// Registry role id.
    pub role: String,
    /// Project slug, when bound to one project.
    pub project: Option<String>,
    /// Since.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An invitation as listed: never its token.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// Id.
    pub id: Uuid,
    /// Organization slug.
    pub organization: String,
    /// Invited email.
    pub email: String,
    /// Organization role on acceptance.
    pub role: String,
    /// Who invited.
    pub invited_by: String,
    /// Until when the link works.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was used.
    #[serde(with = "time::serde::rfc3339::option")]
    pub accepted_at: Option<OffsetDateTime>,
}

/// A new invitation: the token is shown this once and stored only hashed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// Secret token; the link is `/invitations/<token>`.
    pub token: String,
}

/// Memberships, role bindings and invitations.
#[async_trait::async_trait]
pub trait Members: Send + Sync {
    /// Members of an organization, by email.
    async fn org_members(&self, org: &Organization) -> Result<Vec<Member>, IamError>;

    /// Adds `email` to the organization with `role`, or changes its role. Audited.
    async fn set_org_member(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError>;

    /// Removes a member (and its project memberships and role bindings). Audited.
    async fn remove_org_member(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
    ) -> Result<(), IamError>;

    /// Members of a project, by email.
    async fn project_members(&self, project: &Project) -> Result<Vec<Member>, IamError>;

    /// Adds an organization member to the project with `role`, or changes it. Audited.
    async fn set_project_member(
        &self,
        caller: &Caller,
        project: &Project,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError>;

    /// Removes a project member. Audited.
    async fn remove_project_member(
        &self,
        caller: &Caller,
        project: &Project,
        email: &str,
    ) -> Result<(), IamError>;

    /// Role bindings in an organization.
    async fn role_bindings(&self, org: &Organization) -> Result<Vec<RoleBinding>, IamError>;

    /// Binds an active registry role to a member, organization-wide or in `project`. Audited.
    async fn grant_role(
        &self,
        caller: &Caller,
        org: &Organization,
        project: Option<&Project>,
        email: &str,
        role: &str,
    ) -> Result<RoleBinding, IamError>;

    /// Removes a role binding. Audited.
    async fn revoke_role(
        &self,
        caller: &Caller,
        org: &Organization,
        binding: Uuid,
    ) -> Result<(), IamError>;

    /// Invites `email` into the organization as `role`; the link works once, for `valid_for`.
    async fn invite(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
        valid_for: time::Duration,
    ) -> Result<IssuedInvitation, IamError>;

    /// Invitations of an organization, newest first.
    async fn invitations(&self, org: &Organization) -> Result<Vec<Invitation>, IamError>;

    /// The open invitation behind `token` (not found when unknown, used or expired).
    async fn invitation(&self, token: &str) -> Result<Invitation, IamError>;

    /// Creates an account with the invited email, unverified and audited, unless one exists:
    /// the answer is the same either way. The person then signs in and accepts.
    async fn join(&self, token: &str, display_name: &str, password: &str) -> Result<(), IamError>;

    /// Accepts an invitation as the user `user_id`, whose email must be the invited one.
    /// Audited.
    async fn accept_invitation(&self, token: &str, user_id: Uuid) -> Result<Member, IamError>;
}
