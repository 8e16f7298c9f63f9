//! Users, platform roles and passwords.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::IamError;
use super::super::people::{PLATFORM_ADMIN, User};
use super::super::schema::{platform_roles, sessions, users};
use super::{PgIam, random_hex};
use crate::platform::audit::{Actor, NewEvent};

const MIN_PASSWORD: usize = 12;
/// Longest password: argon2 takes any length, but hashing megabytes on request is a gift
/// to an attacker.
const MAX_PASSWORD: usize = 1024;

const ROLE_GRANTED: &str = "platform.role.granted";
const ROLE_REMOVED: &str = "platform.role.removed";
const PASSWORD_CHANGED: &str = "platform.password.changed";
const USER_CREATED: &str = "platform.user.created";
const USER_DISABLED: &str = "platform.user.disabled";
const USER_ENABLED: &str = "platform.user.enabled";

pub(super) type UserRow = (
    Uuid,
    String,
    String,
    String,
    String,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

/// The columns behind a `UserRow`, in its order.
pub(super) const USER_COLUMNS: (
    users::id,
    users::email,
    users::display_name,
    users::state,
    users::password_hash,
    users::last_sign_in_at,
    users::email_verified_at,
) = (
    users::id,
    users::email,
    users::display_name,
    users::state,
    users::password_hash,
    users::last_sign_in_at,
    users::email_verified_at,
);

/// argon2id with a random salt.
pub fn hash_password(password: &str) -> Result<String, IamError> {
    let length = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&length) {
        let bound = match length < MIN_PASSWORD {
            true => format!("at least {MIN_PASSWORD}"),
            false => format!("at most {MAX_PASSWORD}"),
        };
        return Err(IamError::Invalid {
            field: "password",
            reason: format!("must be {bound} characters"),
        });
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| IamError::Invalid {
        field: "password",
        reason: e.to_string(),
    })?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| IamError::Invalid {
        field: "password",
        reason: e.to_string(),
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IamError::Invalid {
            field: "password",
            reason: e.to_string(),
        })
}

pub(super) fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

pub(super) fn check_email(email: &str) -> Result<String, IamError> {
    let email = email.trim();
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    match ok {
        true => Ok(email.to_owned()),
        false => Err(IamError::Invalid {
            field: "email",
            reason: format!("`{email}` is not an email address"),
        }),
    }
}

pub(super) fn user_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> QueryResult<Option<(UserRow, String)>> {
    users::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(email) = lower(")
                .bind::<diesel::sql_types::Text, _>(email)
                .sql(")"),
        )
        .select((USER_COLUMNS, users::password_hash))
        .first(conn)
        .optional()
}

fn roles_of(conn: &mut PgConnection, user: Uuid) -> QueryResult<Vec<String>> {
    platform_roles::table
        .filter(platform_roles::user_id.eq(user))
        .select(platform_roles::role)
        .order(platform_roles::role)
        .load(conn)
}

/// The user with `id`.
pub(super) fn user_by_id(conn: &mut PgConnection, id: Uuid) -> Result<User, IamError> {
    let row: UserRow = users::table
        .find(id)
        .select(USER_COLUMNS)
        .first(conn)
        .optional()?
        .ok_or_else(|| IamError::NotFound(format!("no user {id}")))?;
    Ok(to_user(conn, row)?)
}

pub(super) fn to_user(conn: &mut PgConnection, r: UserRow) -> QueryResult<User> {
    Ok(User {
        platform_roles: roles_of(conn, r.0)?,
        id: r.0,
        email: r.1,
        display_name: r.2,
        state: r.3,
        last_sign_in_at: r.5,
        email_verified: r.6.is_some(),
    })
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

    pub(super) fn set_platform_role_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        role: &str,
        grant: bool,
        actor: Actor,
    ) -> Result<(), IamError> {
        let tenant_role =
            role.starts_with("platform.org_") || role.starts_with("platform.project_");
        if !role.starts_with("platform.") || tenant_role || !self.registry.is_active("role", role) {
            return Err(IamError::Invalid {
                field: "role",
                reason: format!("`{role}` is not an active platform role of the registry"),
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
