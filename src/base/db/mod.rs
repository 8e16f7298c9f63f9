//! The connection pool, embedded migrations, readiness, and the one way async code reaches
//! the database: [`Db::run`], which checks out a connection and queries on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::r2d2::{Pool, PooledConnection};
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::Semaphore;

/// Every migration of every module, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub mod listen;
mod pool;
pub mod snapshot;

use pool::Manager;

/// A pooled connection.
type PgPooled = PooledConnection<Manager>;

/// Database failures below the domain level.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (server down, pool exhausted past the timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A write collided with a unique constraint (a concurrent create won a race). The
    /// constraint's name is for logs; clients are told only that it conflicts.
    #[error("conflicts with an existing record (constraint {constraint})")]
    Conflict {
        /// The constraint that refused it.
        constraint: String,
    },
    /// The database refused a value (a check, a foreign key, an encoding): input that got
    /// past validation. Logged in full; clients get a generic 422.
    #[error("the database refused a value: {0}")]
    Refused(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    /// Migrations could not be listed or applied.
    #[error("migrations: {0}")]
    Migration(String),
    /// The blocking task died (panicked or was cancelled).
    #[error("database task aborted: {0}")]
    Aborted(String),
}

/// The one mapping from diesel's errors to what they mean for a caller; every module's
/// error converts through it, so none leaks constraint names or SQL to a client.
impl From<diesel::result::Error> for DbError {
    fn from(err: diesel::result::Error) -> DbError {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        match err {
            Error::DatabaseError(Kind::UniqueViolation, info) => DbError::Conflict {
                constraint: info.constraint_name().unwrap_or("unknown").to_owned(),
            },
            Error::DatabaseError(
                Kind::CheckViolation | Kind::ForeignKeyViolation | Kind::NotNullViolation,
                info,
            ) => DbError::Refused(info.message().to_owned()),
            Error::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, info) => {
                DbError::Unavailable(info.message().to_owned())
            }
            other => DbError::Query(other),
        }
    }
}

/// Handle to the pool. Cloning is cheap.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    // Bounds blocking work to the pool size so waiting requests queue here, on the async
    // side, instead of piling up blocking threads that each wait for a connection.
    permits: Arc<Semaphore>,
}

impl Db {
    /// Builds a pool without connecting, so a server can start (and report not-ready) while
    /// the database is down.
    pub fn new(url: &str, pool_size: u32, connect_timeout: Duration) -> Result<Db, DbError> {
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(0))
            .connection_timeout(connect_timeout)
            // A connection is tested only when idle for a while or after a failed call
            // (see `pool`), not before every use.
            .test_on_check_out(true)
            .build_unchecked(Manager::new(url));
        Ok(Db {
            pool,
            permits: Arc::new(Semaphore::new(pool_size as usize)),
        })
    }

    /// Runs `f` with a pooled connection on a blocking thread. The checkout happens there too.
    pub async fn run<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|err| DbError::Aborted(err.to_string()))?;
        let pool = self.pool.clone();
        // Records the work writes (audit events, outbox messages) carry the request's context.
        let context = crate::base::context::current();
        let task = tokio::task::spawn_blocking(move || {
            crate::base::context::on_this_thread(context, || {
                let mut tracked = checkout(&pool)?;
                let result = f(&mut tracked.conn);
                tracked.after(&result);
                result
            })
        });
        task.await
            .map_err(|err| DbError::Aborted(err.to_string()))?
    }

    /// Whether the database answers and every embedded migration is applied.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let pending = self
            .run(|conn| {
                diesel::sql_query("SELECT 1").execute(conn)?;
                pending_migrations(conn)
            })
            .await
            .map_err(|err| NotReady::Unreachable(err.to_string()))?;
        match pending.is_empty() {
            true => Ok(()),
            false => Err(NotReady::MigrationsPending(pending)),
        }
    }
}

/// Why the database cannot serve yet.
#[derive(Debug)]
pub enum NotReady {
    /// No connection or no answer; the cause is for logs, not for clients.
    Unreachable(String),
    /// These migrations are not applied.
    MigrationsPending(Vec<String>),
}

fn checkout(pool: &Pool<Manager>) -> Result<PgPooled, DbError> {
    pool.get()
        .map_err(|err| DbError::Unavailable(one_line(&err.to_string())))
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// Versions recorded as applied. Reads diesel's table directly: the harness's own listing
/// first tries to create it, which the server's role may not do.
pub fn applied_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "to_regclass('__diesel_schema_migrations') IS NOT NULL",
    ))
    .get_result(conn)?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<AppliedVersion> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .load(conn)?;
    Ok(rows.into_iter().map(|r| r.version).collect())
}

/// Names of embedded migrations not yet applied to the connected database.
pub fn pending_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let applied = applied_migrations(conn)?;
    let embedded = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|err| DbError::Migration(err.to_string()))?;
    Ok(embedded
        .iter()
        .filter(|m| !applied.contains(&m.name().version().to_string()))
        .map(|m| m.name().to_string())
        .collect())
}

/// Applies pending migrations as the owner (`owner_url`); each migration grants the role
/// behind `server_url` what its module allows. Returns the versions applied.
pub fn migrate(owner_url: &str, server_url: &str) -> Result<Vec<String>, DbError> {
    let server_role = role_of(server_url)?;
    let mut conn = connect(owner_url)?;
    apply_migrations(&mut conn, &server_role)
}

/// The role a URL connects as.
pub fn role_of(url: &str) -> Result<String, DbError> {
    let mut conn = connect(url)?;
    Ok(
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("current_user"))
            .get_result(&mut conn)?,
    )
}

/// Applies pending migrations on `conn` (the owner's). Migrations read the server's role
/// from the `aicloud.server_role` setting to grant it access to their schema.
pub fn apply_migrations(
    conn: &mut PgConnection,
    server_role: &str,
) -> Result<Vec<String>, DbError> {
    diesel::sql_query("SELECT set_config('aicloud.server_role', $1, false)")
        .bind::<diesel::sql_types::Text, _>(server_role)
        .execute(conn)?;
    let applied: Vec<String> = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|err| DbError::Migration(err.to_string()))?
        .iter()
        .map(|v| v.to_string())
        .collect();
    // diesel's bookkeeping table lives outside every module; readiness reads it.
    diesel::sql_query(
        "DO $$ BEGIN IF current_setting('aicloud.server_role') <> current_user THEN \
         EXECUTE format('GRANT SELECT ON __diesel_schema_migrations TO %I', current_setting('aicloud.server_role')); \
         END IF; END $$",
    )
    .execute(conn)?;
    Ok(applied)
}

/// Opens one unpooled connection, for commands that need exactly one.
pub fn connect(url: &str) -> Result<PgConnection, DbError> {
    PgConnection::establish(url).map_err(|err| DbError::Unavailable(one_line(&err.to_string())))
}

/// libpq messages span lines; one-line reasons read better in logs and CLI output.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
