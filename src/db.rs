//! The connection pool, embedded migrations, readiness, and the one way async code reaches
//! the database: [`Db::run`], which checks out a connection and queries on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::Semaphore;

/// Every migration of every module, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A pooled connection.
pub type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

/// Database failures below the domain level.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (server down, pool exhausted past the timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Migrations could not be listed or applied.
    #[error("migrations: {0}")]
    Migration(String),
    /// The blocking task died (panicked or was cancelled).
    #[error("database task aborted: {0}")]
    Aborted(String),
}

/// Handle to the pool. Cloning is cheap.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<PgConnection>>,
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
            .build_unchecked(ConnectionManager::new(url));
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
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&pool)?;
            f(&mut conn)
        });
        task.await
            .map_err(|err| DbError::Aborted(err.to_string()))?
    }

    /// A connection for synchronous callers (CLI, start-up). Never call from async code.
    pub fn get(&self) -> Result<PgPooled, DbError> {
        checkout(&self.pool)
    }

    /// Applies pending migrations; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        apply_migrations(&mut conn)
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

fn checkout(pool: &Pool<ConnectionManager<PgConnection>>) -> Result<PgPooled, DbError> {
    pool.get()
        .map_err(|err| DbError::Unavailable(one_line(&err.to_string())))
}

/// Versions of embedded migrations not yet applied to the connected database.
pub fn pending_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let pending = conn
        .pending_migrations(MIGRATIONS)
        .map_err(|err| DbError::Migration(err.to_string()))?;
    Ok(pending.iter().map(|m| m.name().to_string()).collect())
}

/// Versions of migrations applied to the connected database.
pub fn applied_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let applied = conn
        .applied_migrations()
        .map_err(|err| DbError::Migration(err.to_string()))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Applies pending migrations on `conn`; returns the names applied.
pub fn apply_migrations(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|err| DbError::Migration(err.to_string()))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
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
