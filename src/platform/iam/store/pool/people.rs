//! `People` on the blocking pool.

use crate::platform::audit::Actor;
use crate::platform::iam::IamError;
use crate::platform::iam::people::{CurrentUser, People, SignedIn, User};
use crate::platform::iam::store::PgIam;

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
        email: &str,
        display_name: &str,
        password: &str,
        actor: Actor,
    ) -> Result<User, IamError> {
        let (this, email, name, password) = (
            self.clone(),
            email.to_owned(),
            display_name.to_owned(),
            password.to_owned(),
        );
        self.db
            .run(move |conn| this.create_user_on(conn, (&email, &name, &password), actor))
            .await
    }

    async fn set_user_state(
        &self,
        email: &str,
        active: bool,
        actor: Actor,
    ) -> Result<User, IamError> {
        let (this, email) = (self.clone(), email.to_owned());
        let user = self
            .db
            .run(move |conn| this.set_user_state_on(conn, &email, active, actor))
            .await?;
        self.reload().await?;
        Ok(user)
    }

    async fn set_password(
        &self,
        email: &str,
        password: &str,
        actor: Actor,
    ) -> Result<(), IamError> {
        let (this, email, password) = (self.clone(), email.to_owned(), password.to_owned());
        self.db
            .run(move |conn| this.set_password_on(conn, &email, &password, actor))
            .await
    }

    async fn set_platform_role(
        &self,
        email: &str,
        role: &str,
        grant: bool,
        actor: Actor,
    ) -> Result<(), IamError> {
        let (this, email, role) = (self.clone(), email.to_owned(), role.to_owned());
        self.db
            .run(move |conn| this.set_platform_role_on(conn, &email, &role, grant, actor))
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
