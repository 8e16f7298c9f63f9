//! `People` on the blocking pool.

use crate::platform::audit::Actor;
use crate::platform::iam::people::{CurrentUser, People, SignedIn, User};
use crate::platform::iam::store::PgIam;
use crate::platform::iam::{Caller, IamError, PLATFORM_SCOPE_MARKER, Target};

/// People are the platform's: their accounts, states and passwords.
const IAM_WRITE: &str = "platform.iam.write";
/// Platform roles go only to those who act with platform authority.
const PLATFORM_ADMIN_SCOPE: &str = PLATFORM_SCOPE_MARKER;

#[async_trait::async_trait]
impl People for PgIam {
    async fn bootstrap(
        &self,
        email: &str,
        password: Option<String>,
        actor: Actor,
    ) -> Result<(User, String), IamError> {
        let (this, email) = (self.clone(), email.to_owned());
        self.db
            .run(move |conn| this.bootstrap_on(conn, &email, password, actor))
            .await
    }

    async fn users(&self) -> Result<Vec<User>, IamError> {
        self.db.run(PgIam::users_on).await
    }

    async fn create_user(
        &self,
        caller: &Caller,
        email: &str,
        display_name: &str,
        password: &str,
    ) -> Result<User, IamError> {
        let (this, caller) = (self.clone(), caller.clone());
        let [email, name, password] = [email, display_name, password].map(str::to_owned);
        self.db
            .run(move |conn| {
                this.authorized_on(
                    conn,
                    (&caller, IAM_WRITE, &Target::Platform),
                    |conn, actor| this.create_user_on(conn, (&email, &name, &password), actor),
                )
            })
            .await
    }

    async fn set_user_state(
        &self,
        caller: &Caller,
        email: &str,
        active: bool,
    ) -> Result<User, IamError> {
        let (this, caller, email) = (self.clone(), caller.clone(), email.to_owned());
        let user = self
            .db
            .run(move |conn| {
                this.authorized_on(
                    conn,
                    (&caller, IAM_WRITE, &Target::Platform),
                    |conn, actor| this.set_user_state_on(conn, &email, active, actor),
                )
            })
            .await?;
        self.reload().await?;
        Ok(user)
    }

    async fn set_password(
        &self,
        caller: &Caller,
        email: &str,
        password: &str,
    ) -> Result<(), IamError> {
        let (this, caller) = (self.clone(), caller.clone());
        let (email, password) = (email.to_owned(), password.to_owned());
        self.db
            .run(move |conn| {
                this.authorized_on(
                    conn,
                    (&caller, IAM_WRITE, &Target::Platform),
                    |conn, actor| this.set_password_on(conn, &email, &password, actor),
                )
            })
            .await
    }

    async fn set_platform_role(
        &self,
        caller: &Caller,
        email: &str,
        role: &str,
        grant: bool,
    ) -> Result<(), IamError> {
        let (this, caller) = (self.clone(), caller.clone());
        let (email, role) = (email.to_owned(), role.to_owned());
        self.db
            .run(move |conn| {
                // Platform roles carry platform-wide authority: only the platform's own
                // administrators (and the console) hand them out.
                this.authorized_on(
                    conn,
                    (&caller, PLATFORM_ADMIN_SCOPE, &Target::Platform),
                    |conn, actor| this.set_platform_role_on(conn, &email, &role, grant, actor),
                )
            })
            .await
    }

    async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        keep_session: &str,
        client_ip: &str,
    ) -> Result<(), IamError> {
        let (this, user) = (self.clone(), user.clone());
        let [current, new, keep, ip] = [current, new, keep_session, client_ip].map(str::to_owned);
        self.db
            .run(move |conn| this.change_password_on(conn, &user, (&current, &new), &keep, &ip))
            .await
    }

    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<SignedIn, IamError> {
        let (this, email, password, ip) = (
            self.clone(),
            email.to_owned(),
            password.to_owned(),
            client_ip.to_owned(),
        );
        self.db
            .run(move |conn| this.sign_in_on(conn, &email, &password, &ip))
            .await
    }

    async fn session(&self, token: &str) -> Result<Option<CurrentUser>, IamError> {
        let (token, now) = (token.to_owned(), self.clock.now());
        self.db
            .run(move |conn| PgIam::session_on(conn, &token, now))
            .await
    }

    async fn sign_out(&self, token: &str) -> Result<(), IamError> {
        let (this, token) = (self.clone(), token.to_owned());
        self.db
            .run(move |conn| this.sign_out_on(conn, &token))
            .await
    }
}
