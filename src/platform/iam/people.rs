//! People: users, platform roles, password sign-in with throttling, and portal sessions.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Caller;
use super::IamError;
use crate::platform::audit::Actor;

/// The platform role that administers everything, declared by the platform's packet.
pub const PLATFORM_ADMIN: &str = "platform.platform_admin";

/// Most users `People::emails_of` names at once (a page's worth).
pub const MAX_NAMED: usize = 500;

/// A person.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Email, unique regardless of case.
    pub email: String,
    /// Name shown in the portal.
    pub display_name: String,
    /// active or disabled.
    pub state: String,
    /// Platform roles held (registry role ids).
    pub platform_roles: Vec<String>,
    /// Last successful sign-in.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sign_in_at: Option<OffsetDateTime>,
    /// Whether the email address was ever proven. Until it is, the account is whoever
    /// created it with that address, and everyone granting it access is told so.
    pub email_verified: bool,
}

impl User {
    /// Whether the user administers the platform.
    pub fn is_platform_admin(&self) -> bool {
        self.platform_roles.iter().any(|r| r == PLATFORM_ADMIN)
    }
}

/// A new portal session: the token goes in an HttpOnly cookie and is stored only hashed.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Cookie value.
    pub token: String,
    /// The user.
    pub user: User,
    /// When it ends.
    pub expires_at: OffsetDateTime,
}

/// The user behind a session, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user.
    pub user: User,
    /// CSRF token for this session's forms.
    pub csrf: String,
}

/// Users and sessions.
#[async_trait::async_trait]
pub trait People: Send + Sync {
    /// Creates the first platform administrator; refused once one exists. Returns the
    /// password (generated unless given).
    async fn bootstrap(
        &self,
        email: &str,
        password: Option<String>,
        actor: Actor,
    ) -> Result<(User, String), IamError>;

    /// Every user, by email.
    async fn users(&self) -> Result<Vec<User>, IamError>;

    /// The email of each of `ids` that is a user, for pages that name who did something
    /// (an id that is no user is left out). At most `MAX_NAMED` ids at once.
    async fn emails_of(
        &self,
        ids: Vec<Uuid>,
    ) -> Result<std::collections::HashMap<Uuid, String>, IamError>;

    /// Creates a user (no roles). Audited.
    async fn create_user(
        &self,
        caller: &Caller,
        email: &str,
        display_name: &str,
        password: &str,
    ) -> Result<User, IamError>;

    /// Disables (`active` false) or enables a user, audited. A disabled user cannot sign in,
    /// their sessions end and their keys are denied on every server; their memberships
    /// stay. The last active platform administrator cannot be disabled.
    async fn set_user_state(
        &self,
        caller: &Caller,
        email: &str,
        active: bool,
    ) -> Result<User, IamError>;

    /// Sets a password and ends every session of the user. Audited.
    async fn set_password(
        &self,
        caller: &Caller,
        email: &str,
        password: &str,
    ) -> Result<(), IamError>;

    /// Changes `user`'s own password once `current` checks out, keeping the session
    /// `keep_session` and ending every other one. Audited.
    async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        keep_session: &str,
        client_ip: &str,
    ) -> Result<(), IamError>;

    /// Grants (or, with `grant` false, removes) a platform role: an active registry role of
    /// the platform that is neither an organization nor a project role. Audited.
    async fn set_platform_role(
        &self,
        caller: &Caller,
        email: &str,
        role: &str,
        grant: bool,
    ) -> Result<(), IamError>;

    /// Checks a password; throttled per account and per address.
    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<SignedIn, IamError>;

    /// The user behind a session token, if the session is live.
    async fn session(&self, token: &str) -> Result<Option<CurrentUser>, IamError>;

    /// Ends a session.
    async fn sign_out(&self, token: &str) -> Result<(), IamError>;
}
