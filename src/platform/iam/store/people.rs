//! Users, platform roles, password checks with throttling, and sessions.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::IamError;
use super::super::people::{CurrentUser, PLATFORM_ADMIN, SignedIn, User};
use super::super::schema::{platform_roles, sessions, sign_in_failures, users};
use super::read_model::digest;
use super::{PgIam, random_hex};
use crate::platform::audit::{Actor, NewEvent};

const SESSION_HOURS: i64 = 12;
const FAILURE_WINDOW_MINUTES: i64 = 15;
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 20;
const MIN_PASSWORD: usize = 12;

const ROLE_GRANTED: &str = "platform.role.granted";
const ROLE_REMOVED: &str = "platform.role.removed";
const PASSWORD_CHANGED: &str = "platform.password.changed";
const FAILURES_REPEATED: &str = "platform.sign_in.failures_repeated";

pub(super) type UserRow = (Uuid, String, String, String, String, Option<OffsetDateTime>);

/// The columns behind a `UserRow`, in its order.
const USER_COLUMNS: (
    users::id,
    users::email,
    users::display_name,
    users::state,
    users::password_hash,
    users::last_sign_in_at,
) = (
    users::id,
    users::email,
    users::display_name,
    users::state,
    users::password_hash,
    users::last_sign_in_at,
);

/// argon2id with a random salt.
pub fn hash_password(password: &str) -> Result<String, IamError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(IamError::Invalid {
            field: "password",
            reason: format!("must be at least {MIN_PASSWORD} characters"),
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

fn password_matches(password: &str, stored: &str) -> bool {
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

pub(super) fn to_user(conn: &mut PgConnection, r: UserRow) -> QueryResult<User> {
    Ok(User {
        platform_roles: roles_of(conn, r.0)?,
        id: r.0,
        email: r.1,
        display_name: r.2,
        state: r.3,
        last_sign_in_at: r.5,
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
            let id = self.insert_user(conn, &email, "Platform administrator", &hash, now)?;
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

    pub(super) fn insert_user(
        &self,
        conn: &mut PgConnection,
        email: &str,
        name: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Uuid, IamError> {
        let id = Uuid::now_v7();
        diesel::insert_into(users::table)
            .values((
                users::id.eq(id),
                users::email.eq(email),
                users::display_name.eq(name),
                users::password_hash.eq(hash),
                users::state.eq("active"),
                users::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(id)
    }

    pub(super) fn create_user_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<User, IamError> {
        let email = check_email(email)?;
        if name.trim().is_empty() {
            return Err(IamError::Invalid {
                field: "display_name",
                reason: "must not be empty".into(),
            });
        }
        let hash = hash_password(password)?;
        let id = self.insert_user(conn, &email, name.trim(), &hash, self.clock.now())?;
        let row = users::table.find(id).select(USER_COLUMNS).first(conn)?;
        Ok(to_user(conn, row)?)
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
                        let admins: Vec<Uuid> = platform_roles::table
                            .filter(platform_roles::role.eq(PLATFORM_ADMIN))
                            .select(platform_roles::user_id)
                            .load(conn)?;
                        if admins == [row.0] {
                            return Err(IamError::Conflict(
                                "the platform must keep one administrator".into(),
                            ));
                        }
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

    /// Changes the signed-in user's own password after checking the current one (wrong
    /// guesses count towards the sign-in throttle); ends every other session.
    pub(super) fn change_password_on(
        &self,
        conn: &mut PgConnection,
        user: &User,
        (current, new): (&str, &str),
        keep_session: &str,
        ip: &str,
    ) -> Result<(), IamError> {
        let now = self.clock.now();
        let since = now - Duration::minutes(FAILURE_WINDOW_MINUTES);
        let (by_account, by_address) = Self::recent_failures(conn, &user.email, ip, since)?;
        if by_account >= MAX_FAILURES_PER_ACCOUNT || by_address >= MAX_FAILURES_PER_ADDRESS {
            return Err(IamError::Throttled(format!(
                "too many wrong passwords; try again in {FAILURE_WINDOW_MINUTES} minutes"
            )));
        }
        let (_, stored) = user_by_email(conn, &user.email)?
            .ok_or_else(|| IamError::NotFound(format!("no user `{}`", user.email)))?;
        if !password_matches(current, &stored) {
            return Err(
                match self.failed_sign_in(conn, &user.email, ip, now, by_account + 1, Some(user.id))
                {
                    IamError::Unauthenticated(_) => {
                        IamError::Forbidden("the current password is not right".into())
                    }
                    not_recorded => not_recorded,
                },
            );
        }
        let hash = hash_password(new)?;
        let kept = hex::encode(digest(keep_session));
        conn.transaction(|conn| {
            diesel::update(users::table.find(user.id))
                .set(users::password_hash.eq(&hash))
                .execute(conn)?;
            diesel::delete(
                sessions::table
                    .filter(sessions::user_id.eq(user.id))
                    .filter(sessions::token_sha256.ne(&kept)),
            )
            .execute(conn)?;
            let actor = super::super::Caller::User(user.clone()).actor();
            self.audit.append_in(
                conn,
                NewEvent::new(actor, PASSWORD_CHANGED, "user", &user.id.to_string()),
            )?;
            Ok(())
        })
    }

    fn recent_failures(
        conn: &mut PgConnection,
        email: &str,
        ip: &str,
        since: OffsetDateTime,
    ) -> QueryResult<(i64, i64)> {
        let by_account: i64 = sign_in_failures::table
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(email) = lower(")
                    .bind::<diesel::sql_types::Text, _>(email)
                    .sql(")"),
            )
            .filter(sign_in_failures::at.gt(since))
            .count()
            .get_result(conn)?;
        let by_address: i64 = sign_in_failures::table
            .filter(sign_in_failures::client_ip.eq(ip))
            .filter(sign_in_failures::at.gt(since))
            .count()
            .get_result(conn)?;
        Ok((by_account, by_address))
    }

    pub(super) fn sign_in_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<SignedIn, IamError> {
        let now = self.clock.now();
        let since = now - Duration::minutes(FAILURE_WINDOW_MINUTES);
        let (by_account, by_address) = Self::recent_failures(conn, email, ip, since)?;
        if by_account >= MAX_FAILURES_PER_ACCOUNT || by_address >= MAX_FAILURES_PER_ADDRESS {
            return Err(IamError::Throttled(format!(
                "too many failed sign-ins; try again in {FAILURE_WINDOW_MINUTES} minutes"
            )));
        }
        let found = user_by_email(conn, email)?;
        let valid = found
            .as_ref()
            .filter(|(row, hash)| row.3 == "active" && password_matches(password, hash));
        let Some((row, _)) = valid.cloned() else {
            return Err(self.failed_sign_in(
                conn,
                email,
                ip,
                now,
                by_account + 1,
                found.map(|(r, _)| r.0),
            ));
        };
        let token = random_hex(32)?;
        let expires_at = now + Duration::hours(SESSION_HOURS);
        diesel::insert_into(sessions::table)
            .values((
                sessions::token_sha256.eq(hex::encode(digest(&token))),
                sessions::user_id.eq(row.0),
                sessions::csrf_token.eq(random_hex(16)?),
                sessions::created_at.eq(now),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        diesel::update(users::table.find(row.0))
            .set(users::last_sign_in_at.eq(now))
            .execute(conn)?;
        Ok(SignedIn {
            token,
            user: to_user(conn, row)?,
            expires_at,
        })
    }

    /// Records a failure (and, at the threshold, an audit event); the same answer for an
    /// unknown email as for a wrong password.
    fn failed_sign_in(
        &self,
        conn: &mut PgConnection,
        email: &str,
        ip: &str,
        now: OffsetDateTime,
        count: i64,
        user: Option<Uuid>,
    ) -> IamError {
        let recorded = conn.transaction(|conn| {
            diesel::insert_into(sign_in_failures::table)
                .values((sign_in_failures::email.eq(email), sign_in_failures::client_ip.eq(ip), sign_in_failures::at.eq(now)))
                .execute(conn)?;
            if count == MAX_FAILURES_PER_ACCOUNT
                && let Some(user) = user
            {
                let mut event = NewEvent::new(Actor::system("sign-in"), FAILURES_REPEATED, "user", &user.to_string());
                event.client_ip = Some(ip.to_owned());
                event.result = crate::platform::audit::AuditResult::Denied;
                event.details = serde_json::json!({ "failures": count, "window_minutes": FAILURE_WINDOW_MINUTES });
                self.audit.append_in(conn, event)?;
            }
            Ok::<_, IamError>(())
        });
        match recorded {
            Ok(()) => IamError::Unauthenticated("the email or password is wrong".into()),
            Err(err) => err,
        }
    }

    pub(super) fn session_on(
        conn: &mut PgConnection,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CurrentUser>, IamError> {
        let found: Option<(String, UserRow)> = sessions::table
            .inner_join(users::table)
            .filter(sessions::token_sha256.eq(hex::encode(digest(token))))
            .filter(sessions::expires_at.gt(now))
            .filter(users::state.eq("active"))
            .select((sessions::csrf_token, USER_COLUMNS))
            .first(conn)
            .optional()?;
        match found {
            None => Ok(None),
            Some((csrf, row)) => Ok(Some(CurrentUser {
                user: to_user(conn, row)?,
                csrf,
            })),
        }
    }

    pub(super) fn sign_out_on(conn: &mut PgConnection, token: &str) -> Result<(), IamError> {
        diesel::delete(sessions::table.find(hex::encode(digest(token)))).execute(conn)?;
        Ok(())
    }
}
