//! Accounts as IAM reads them (a user row and its platform roles) and passwords as it
//! stores them: argon2id, bounded so hashing stays cheap for us and dear for a guesser.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use diesel::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::IamError;
use super::super::people::User;
use super::super::schema::{platform_roles, users};

const MIN_PASSWORD: usize = 12;
/// Longest password: argon2 takes any length, but hashing megabytes on request is a gift
/// to an attacker.
const MAX_PASSWORD: usize = 1024;

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

pub(super) fn roles_of(conn: &mut PgConnection, user: Uuid) -> QueryResult<Vec<String>> {
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
