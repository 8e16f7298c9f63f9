//! Users, platform roles and passwords, as the platform administers them.

use std::collections::HashMap;

use diesel::prelude::*;
use uuid::Uuid;

use super::super::people::{CurrentUser, MAX_NAMED, PLATFORM_ADMIN, People, SignedIn, User};
use super::super::schema::{platform_roles, sessions, users};
use super::super::{Caller, IamError, PLATFORM_SCOPE_MARKER, Target};
use super::accounts::{
    USER_COLUMNS, UserRow, check_email, hash_password, roles_of, to_user, user_by_email, user_by_id,
};
use super::{PgIam, random_hex};
use crate::platform::audit::{Actor, NewEvent};

/// People are the platform's: their accounts, states and passwords.
const IAM_WRITE: &str = "platform.iam.write";
/// Platform roles go only to those who act with platform authority.
const PLATFORM_ADMIN_SCOPE: &str = PLATFORM_SCOPE_MARKER;

const ROLE_GRANTED: &str = "platform.role.granted";
const ROLE_REMOVED: &str = "platform.role.removed";
const PASSWORD_CHANGED: &str = "platform.password.changed";
const USER_CREATED: &str = "platform.user.created";
const USER_DISABLED: &str = "platform.user.disabled";
const USER_ENABLED: &str = "platform.user.enabled";

#[async_trait::async_trait]
impl People for PgIam {
    async fn bootstrap(
        &self,
        email: &str,
        password: Option<String>,
        actor: Actor,
    ) -> Result<(User, String), IamError> {
        let email = email.to_owned();
        self.on_pool(move |this, conn| this.bootstrap_on(conn, &email, password, actor))
            .await
    }

    async fn users(&self) -> Result<Vec<User>, IamError> {
        self.db.run(PgIam::users_on).await
    }

    async fn emails_of(&self, ids: Vec<Uuid>) -> Result<HashMap<Uuid, String>, IamError> {
        if ids.len() > MAX_NAMED {
            return Err(IamError::Invalid {
                field: "ids",
                reason: format!("at most {MAX_NAMED} users are named at once"),
            });
        }
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let found: Vec<(Uuid, String)> = self
            .db
            .run(move |conn| {
                users::table
                    .filter(users::id.eq_any(&ids))
                    .select((users::id, users::email))
                    .load(conn)
                    .map_err(IamError::from)
            })
            .await?;
        Ok(found.into_iter().collect())
    }

    async fn create_user(
        &self,
        caller: &Caller,
        email: &str,
        display_name: &str,
        password: &str,
    ) -> Result<User, IamError> {
        let [email, name, password] = [email, display_name, password].map(str::to_owned);
        let may = (IAM_WRITE, Target::Platform);
        self.authorized(caller, may, move |this, conn, actor| {
            this.create_user_on(conn, (&email, &name, &password), actor)
        })
        .await
    }

    async fn set_user_state(
        &self,
        caller: &Caller,
        email: &str,
        active: bool,
    ) -> Result<User, IamError> {
        let email = email.to_owned();
        let may = (IAM_WRITE, Target::Platform);
        let user = self
            .authorized(caller, may, move |this, conn, actor| {
                this.set_user_state_on(conn, &email, active, actor)
            })
            .await?;
        // A person's keys follow their state on this server at once.
        self.reload().await?;
        Ok(user)
    }

    async fn set_password(
        &self,
        caller: &Caller,
        email: &str,
        password: &str,
    ) -> Result<(), IamError> {
        let [email, password] = [email, password].map(str::to_owned);
        let may = (IAM_WRITE, Target::Platform);
        self.authorized(caller, may, move |this, conn, actor| {
            this.set_password_on(conn, &email, &password, actor)
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
        let [email, role] = [email, role].map(str::to_owned);
        // Platform roles carry platform-wide authority: only the platform's own
        // administrators (and the console) hand them out.
        let may = (PLATFORM_ADMIN_SCOPE, Target::Platform);
        self.authorized(caller, may, move |this, conn, actor| {
            this.set_platform_role_on(conn, &email, &role, grant, actor)
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
        let user = user.clone();
        let [current, new, keep, ip] = [current, new, keep_session, client_ip].map(str::to_owned);
        self.on_pool(move |this, conn| {
            this.change_password_on(conn, &user, (&current, &new), &keep, &ip)
        })
        .await
    }

    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<SignedIn, IamError> {
        let [email, password, ip] = [email, password, client_ip].map(str::to_owned);
        self.on_pool(move |this, conn| this.sign_in_on(conn, &email, &password, &ip))
            .await
    }

    async fn session(&self, token: &str) -> Result<Option<CurrentUser>, IamError> {
        let (token, now) = (token.to_owned(), self.clock.now());
        self.db
            .run(move |conn| PgIam::session_on(conn, &token, now))
            .await
    }

    async fn sign_out(&self, token: &str) -> Result<(), IamError> {
        let token = token.to_owned();
        self.on_pool(move |this, conn| this.sign_out_on(conn, &token))
            .await
    }
}

impl PgIam {
    pub(super) fn bootstrap_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        password: Option<String>,
        actor: Actor,
    ) -> Result<(User, String), IamError> {
        if !self.registry.is_active("role", PLATFORM_ADMIN) {
            return Err(IamError::Invalid {
                field: "role",
                reason: format!(
                    "`{PLATFORM_ADMIN}` is not an active registry role; onboard config/products/platform.toml first"
                ),
            });
        }
        let password = match password {
            Some(p) => p,
            None => random_hex(12)?,
        };
        let email = check_email(email)?;
        let hash = hash_password(&password)?;
        let now = self.clock.now();
        conn.transaction(|conn| {
            let admins: i64 = platform_roles::table
                .filter(platform_roles::role.eq(PLATFORM_ADMIN))
                .count()
                .get_result(conn)?;
            if admins > 0 {
                return Err(IamError::Conflict(
                    "a platform administrator exists already; bootstrap runs once".into(),
                ));
            }
            let name = "Platform administrator";
            let id = self.insert_user(conn, (&email, name, &hash), actor.clone())?;
            diesel::insert_into(platform_roles::table)
                .values((
                    platform_roles::user_id.eq(id),
                    platform_roles::role.eq(PLATFORM_ADMIN),
                    platform_roles::granted_at.eq(now),
                ))
                .execute(conn)?;
            let mut event = NewEvent::new(
                actor,
                ROLE_GRANTED,
                "role_binding",
                &format!("user:{id}:{PLATFORM_ADMIN}"),
            );
            event.details =
                serde_json::json!({ "user": id, "role": PLATFORM_ADMIN, "scope": "platform" });
            self.audit.append_in(conn, event)?;
            let row = users::table.find(id).select(USER_COLUMNS).first(conn)?;
            Ok((to_user(conn, row)?, password))
        })
    }

    /// Inserts an account, audited as created by `actor` in the same transaction: every way
    /// an account comes to be (bootstrap, the API and CLI, joining by invitation) is recorded.
    pub(super) fn insert_user(
        &self,
        conn: &mut PgConnection,
        (email, name, hash): (&str, &str, &str),
        actor: Actor,
    ) -> Result<Uuid, IamError> {
        let id = Uuid::now_v7();
        diesel::insert_into(users::table)
            .values((
                users::id.eq(id),
                users::email.eq(email),
                users::display_name.eq(name),
                users::password_hash.eq(hash),
                users::state.eq("active"),
                users::created_at.eq(self.clock.now()),
            ))
            .execute(conn)?;
        let event = NewEvent::new(actor, USER_CREATED, "user", &id.to_string());
        self.audit.append_in(conn, event)?;
        Ok(id)
    }

    pub(super) fn create_user_on(
        &self,
        conn: &mut PgConnection,
        (email, name, password): (&str, &str, &str),
        actor: Actor,
    ) -> Result<User, IamError> {
        let email = check_email(email)?;
        if name.trim().is_empty() {
            return Err(IamError::Invalid {
                field: "display_name",
                reason: "must not be empty".into(),
            });
        }
        let hash = hash_password(password)?;
        conn.transaction(|conn| {
            let id = self.insert_user(conn, (&email, name.trim(), &hash), actor)?;
            user_by_id(conn, id)
        })
    }

    /// Disables (`active` false) or enables a user. Disabling ends their sessions and, on
    /// every server, their keys; the platform keeps at least one active administrator.
    pub(super) fn set_user_state_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        active: bool,
        actor: Actor,
    ) -> Result<User, IamError> {
        let (wanted, action) = match active {
            true => ("active", USER_ENABLED),
            false => ("disabled", USER_DISABLED),
        };
        conn.transaction(|conn| {
            let (row, _) = user_by_email(conn, email)?
                .ok_or_else(|| IamError::NotFound(format!("no user `{email}`")))?;
            if row.3 == wanted {
                return Err(IamError::Conflict(format!(
                    "user `{email}` is already {wanted}"
                )));
            }
            if !active && roles_of(conn, row.0)?.iter().any(|r| r == PLATFORM_ADMIN) {
                Self::keep_an_active_admin(conn, row.0)?;
            }
            diesel::update(users::table.find(row.0))
                .set(users::state.eq(wanted))
                .execute(conn)?;
            if !active {
                diesel::delete(sessions::table.filter(sessions::user_id.eq(row.0)))
                    .execute(conn)?;
            }
            diesel::sql_query(format!("NOTIFY {}", super::read_model::CHANNEL)).execute(conn)?;
            self.audit.append_in(
                conn,
                NewEvent::new(actor, action, "user", &row.0.to_string()),
            )?;
            user_by_id(conn, row.0)
        })
    }

    /// Refuses a change that would leave no active platform administrator but `user`.
    fn keep_an_active_admin(conn: &mut PgConnection, user: Uuid) -> Result<(), IamError> {
        // Serializes such changes, so two administrators disabling each other cannot both pass.
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('iam.platform_admins'))")
            .execute(conn)?;
        let others: i64 = platform_roles::table
            .inner_join(users::table)
            .filter(platform_roles::role.eq(PLATFORM_ADMIN))
            .filter(platform_roles::user_id.ne(user))
            .filter(users::state.eq("active"))
            .count()
            .get_result(conn)?;
        match others {
            0 => Err(IamError::Conflict(
                "the platform must keep one active administrator".into(),
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn users_on(conn: &mut PgConnection) -> Result<Vec<User>, IamError> {
        let rows: Vec<UserRow> = users::table
            .order(users::email)
            .select(USER_COLUMNS)
            .load(conn)?;
        rows.into_iter()
            .map(|r| to_user(conn, r).map_err(IamError::from))
            .collect()
    }

    pub(super) fn set_password_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        password: &str,
        actor: Actor,
    ) -> Result<(), IamError> {
        let hash = hash_password(password)?;
        conn.transaction(|conn| {
            let (row, _) = user_by_email(conn, email)?
                .ok_or_else(|| IamError::NotFound(format!("no user `{email}`")))?;
            diesel::update(users::table.find(row.0))
                .set(users::password_hash.eq(&hash))
                .execute(conn)?;
            diesel::delete(sessions::table.filter(sessions::user_id.eq(row.0))).execute(conn)?;
            self.audit.append_in(
                conn,
                NewEvent::new(actor, PASSWORD_CHANGED, "user", &row.0.to_string()),
            )?;
            Ok(())
        })
    }

    /// Whether `role` may be held platform-wide: an active role of the platform's own that
    /// is not an organization's or project's, or a product's operator-class role (its packet
    /// leaves it not tenant-bindable: only platform administrators hand those out).
    fn is_platform_role(&self, role: &str) -> bool {
        let Some(entry) = self.registry.active_entry("role", role) else {
            return false;
        };
        let tenant_role =
            role.starts_with("platform.org_") || role.starts_with("platform.project_");
        match role.starts_with("platform.") {
            true => !tenant_role,
            false => entry.attributes.get("tenant_bindable") == Some(&serde_json::json!(false)),
        }
    }

    pub(super) fn set_platform_role_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        role: &str,
        grant: bool,
        actor: Actor,
    ) -> Result<(), IamError> {
        if !self.is_platform_role(role) {
            return Err(IamError::Invalid {
                field: "role",
                reason: format!(
                    "`{role}` is not an active platform role of the registry (a platform role, \
                     or a product's operator-class role: one its packet does not make tenant-bindable)"
                ),
            });
        }
        conn.transaction(|conn| {
            let (row, _) = user_by_email(conn, email)?
                .ok_or_else(|| IamError::NotFound(format!("no user `{email}`")))?;
            let binding = platform_roles::table.find((row.0, role));
            let changed = match grant {
                true => diesel::insert_into(platform_roles::table)
                    .values((
                        platform_roles::user_id.eq(row.0),
                        platform_roles::role.eq(role),
                        platform_roles::granted_at.eq(self.clock.now()),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)?,
                false => {
                    if role == PLATFORM_ADMIN {
                        Self::keep_an_active_admin(conn, row.0)?;
                    }
                    diesel::delete(binding).execute(conn)?
                }
            };
            if changed == 0 {
                return Ok(());
            }
            let action = if grant { ROLE_GRANTED } else { ROLE_REMOVED };
            let mut event = NewEvent::new(
                actor,
                action,
                "role_binding",
                &format!("platform:{}:{role}", row.0),
            );
            event.details = serde_json::json!({ "role": role, "user_id": row.0 });
            self.audit.append_in(conn, event)?;
            Ok(())
        })
    }
}
