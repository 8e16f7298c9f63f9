//! Sign-in with throttling per account and per address, sessions, and changing one's own
//! password.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::IamError;
use super::super::people::{CurrentUser, SignedIn, User};
use super::super::schema::{sessions, users};
use super::accounts::{
    USER_COLUMNS, UserRow, hash_password, password_matches, to_user, user_by_email,
};
use super::read_model::digest;
use super::{PgIam, random_hex, throttle};
use crate::platform::audit::{Actor, NewEvent};

const SESSION_HOURS: i64 = 12;
/// Failed attempts at one account, from all addresses together, at which the failures are
/// audited. Reported, never a lockout: the owner may be signing in from elsewhere.
const FAILURES_REPORTED: i64 = 5;
const PASSWORD_CHANGED: &str = "platform.password.changed";
const SESSION_STARTED: &str = "platform.session.started";
const SESSION_ENDED: &str = "platform.session.ended";
const FAILURES_REPEATED: &str = "platform.sign_in.failures_repeated";
const WRONG: &str = "the email or password is wrong";

/// An argon2 hash that no password matches, checked when the email has no active account,
/// so an unknown email costs the same time as a wrong password.
fn stand_in_hash() -> Result<&'static str, IamError> {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = HASH.get() {
        return Ok(hash);
    }
    let made = hash_password(&random_hex(32)?)?;
    Ok(HASH.get_or_init(|| made))
}

impl PgIam {
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
        let attempt = throttle::count_attempt(conn, &user.email, ip, now)?;
        let (_, stored) = user_by_email(conn, &user.email)?
            .ok_or_else(|| IamError::NotFound(format!("no user `{}`", user.email)))?;
        if !password_matches(current, &stored) {
            self.report_failures(conn, &attempt, ip, Some(user.id))?;
            return Err(IamError::Forbidden(
                "the current password is not right".into(),
            ));
        }
        throttle::forget(conn, attempt)?;
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

    /// Signs in: the same work, wording and time for an unknown email, a disabled account
    /// and a wrong password.
    pub(super) fn sign_in_on(
        &self,
        conn: &mut PgConnection,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<SignedIn, IamError> {
        let now = self.clock.now();
        let attempt = throttle::count_attempt(conn, email, ip, now)?;
        let found = user_by_email(conn, email)?;
        let hash = match &found {
            Some((_, hash)) => hash.as_str(),
            None => stand_in_hash()?,
        };
        let matches = password_matches(password, hash);
        let user = found.as_ref().map(|(row, _)| row.0);
        let valid = found.filter(|(row, _)| matches && row.3 == "active");
        let Some((row, _)) = valid else {
            self.report_failures(conn, &attempt, ip, user)?;
            return Err(IamError::Unauthenticated(WRONG.into()));
        };
        throttle::forget(conn, attempt)?;
        self.open_session(conn, row, now)
    }

    /// A new session for `row`, audited in the same transaction.
    fn open_session(
        &self,
        conn: &mut PgConnection,
        row: UserRow,
        now: OffsetDateTime,
    ) -> Result<SignedIn, IamError> {
        conn.transaction(|conn| {
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
            let user = to_user(conn, row)?;
            let actor = super::super::Caller::User(user.clone()).actor();
            let started = NewEvent::new(actor, SESSION_STARTED, "user", &user.id.to_string());
            self.audit.append_in(conn, started)?;
            Ok(SignedIn {
                token,
                user,
                expires_at,
            })
        })
    }

    /// Audits repeated failures at an existing account once, when they reach the threshold.
    fn report_failures(
        &self,
        conn: &mut PgConnection,
        attempt: &throttle::Attempt,
        ip: &str,
        user: Option<Uuid>,
    ) -> Result<(), IamError> {
        let (Some(user), FAILURES_REPORTED) = (user, attempt.account_failures) else {
            return Ok(());
        };
        let mut event = NewEvent::new(
            Actor::system("sign-in"),
            FAILURES_REPEATED,
            "user",
            &user.to_string(),
        );
        event.client_ip = Some(ip.to_owned());
        event.result = crate::platform::audit::AuditResult::Denied;
        event.details = serde_json::json!({
            "failures": attempt.account_failures,
            "window_minutes": throttle::WINDOW_MINUTES,
        });
        self.audit.append_in(conn, event)?;
        Ok(())
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

    /// Ends the session, audited as its user's; an unknown token ends nothing and records
    /// nothing.
    pub(super) fn sign_out_on(&self, conn: &mut PgConnection, token: &str) -> Result<(), IamError> {
        let ended: Option<Uuid> = diesel::delete(sessions::table.find(hex::encode(digest(token))))
            .returning(sessions::user_id)
            .get_result(conn)
            .optional()?;
        let Some(user) = ended else {
            return Ok(());
        };
        let user = super::accounts::user_by_id(conn, user)?;
        let actor = super::super::Caller::User(user.clone()).actor();
        let event = NewEvent::new(actor, SESSION_ENDED, "user", &user.id.to_string());
        self.audit.append_in(conn, event)?;
        Ok(())
    }
}
