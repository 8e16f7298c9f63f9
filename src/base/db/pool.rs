//! The pool's connection manager. r2d2 can test a connection with `SELECT 1` before every
//! checkout, which doubled the round trips of each call; diesel tells r2d2 a connection is
//! broken only when its transaction state is, so a connection PostgreSQL dropped outside a
//! transaction would go back to the pool and fail every call that took it. Instead a
//! connection is tested when it has been idle long enough to have been dropped unseen, and
//! after any call that failed on it (`Tracked::after`), which marks it broken if it no
//! longer answers: a dropped connection fails at most the one call that finds it.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Error, ManageConnection};

/// How long after its last call a connection is taken without testing it.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// A pooled connection with what the manager knows of it.
pub struct Tracked {
    /// The connection itself.
    pub conn: PgConnection,
    last_answered: Instant,
    broken: bool,
}

impl Tracked {
    /// Records how the call that just ran on it ended: a failure may be a lost connection,
    /// which one `SELECT 1` tells apart from a refused statement.
    pub fn after<T, E>(&mut self, result: &Result<T, E>) {
        if result.is_err()
            && diesel::sql_query("SELECT 1")
                .execute(&mut self.conn)
                .is_err()
        {
            self.broken = true;
            return;
        }
        self.last_answered = Instant::now();
    }
}

/// Opens and checks connections for the pool.
pub struct Manager(ConnectionManager<PgConnection>);

impl Manager {
    /// Connecting to `url`.
    pub fn new(url: &str) -> Manager {
        Manager(ConnectionManager::new(url))
    }
}

impl ManageConnection for Manager {
    type Connection = Tracked;
    type Error = Error;

    fn connect(&self) -> Result<Tracked, Error> {
        Ok(Tracked {
            conn: self.0.connect()?,
            last_answered: Instant::now(),
            broken: false,
        })
    }

    fn is_valid(&self, tracked: &mut Tracked) -> Result<(), Error> {
        match tracked.last_answered.elapsed() < TRUSTED_FOR {
            true => Ok(()),
            false => self.0.is_valid(&mut tracked.conn),
        }
    }

    fn has_broken(&self, tracked: &mut Tracked) -> bool {
        tracked.broken || self.0.has_broken(&mut tracked.conn)
    }
}
