//! Sign-in with throttling per account and per address, sessions, and changing one's own
//! password.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::IamError;
use super::super::people::{CurrentUser, SignedIn, User};
use super::super::schema::{sessions, sign_in_failures, users};
use super::people::{
    USER_COLUMNS, UserRow, hash_password, password_matches, to_user, user_by_email,
};
use super::read_model::digest;
use super::{PgIam, random_hex};
use crate::platform::audit::{Actor, NewEvent};

const SESSION_HOURS: i64 = 12;
const FAILURE_WINDOW_MINUTES: i64 = 15;
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 20;
const PASSWORD_CHANGED: &str = "platform.password.changed";
const FAILURES_REPEATED: &str = "platform.sign_in.failures_repeated";

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
