//! Group commit: concurrent callers' events are written by one transaction, and each caller
//! is answered when the group it joined has committed. Up to `billing.group_writers`
//! (`capture_writers` for captures) groups are in flight per process (the insert work of
//! one overlaps the commit of another, and PostgreSQL spreads them over cores); callers
//! arriving while all are busy form the next group, so the busier it gets, the larger the
//! groups. What a group writes is the committer's `WriteGroup`: the ledger's (`ingest`) or
//! the capture's (`capture`).

use std::sync::Arc;

use diesel::prelude::*;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use super::super::BillingError;
use super::super::guard::Guard;
use super::super::usage::{Outcome, UsageEvent};
use super::ingest::Debits;
use crate::base::config::BillingSettings;
use crate::base::db::Db;

type Reply = oneshot::Sender<Result<Vec<Outcome>, BillingError>>;

/// What a group writes, committed when it returns: each event's outcome. Registering its
/// debits with the spend guard before they commit is the writer's (`committing`).
pub(super) type WriteGroup = Arc<
    dyn Fn(&mut PgConnection, &[UsageEvent]) -> Result<Vec<Outcome>, BillingError> + Send + Sync,
>;

/// One caller's checked events waiting for a group.
struct Job {
    events: Vec<UsageEvent>,
    reply: Reply,
}

/// How groups are written, and who hears that one committed.
#[derive(Clone)]
struct Groups {
    db: Db,
    write: WriteGroup,
    committed: Option<Arc<Notify>>,
}

/// The handle callers submit to; the group loop runs on a task of its own.
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the group loop, with up to `writers` groups in flight: each group runs `write`
    /// in one transaction, then wakes `committed` (if any).
    pub fn start(
        db: Db,
        (settings, writers): (&BillingSettings, usize),
        write: WriteGroup,
        committed: Option<Arc<Notify>>,
    ) -> Committer {
        let (jobs, queue) = mpsc::channel(4096);
        let limits = (settings.group_max_events, writers);
        let groups = Groups {
            db,
            write,
            committed,
        };
        tokio::spawn(run_groups(queue, groups, limits));
        Committer { jobs }
    }

    /// Writes `events` in the next group; one outcome each (accepted or duplicate).
    pub(super) async fn submit(
        &self,
        events: Vec<UsageEvent>,
    ) -> Result<Vec<Outcome>, BillingError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { events, reply })
            .await
            .map_err(|_| BillingError::Unavailable("the group committer has stopped".into()))?;
        answer
            .await
            .map_err(|_| BillingError::Unavailable("the group commit was abandoned".into()))?
    }
}

async fn run_groups(
    mut queue: mpsc::Receiver<Job>,
    groups: Groups,
    (max, writers): (usize, usize),
) {
    let writers = Arc::new(Semaphore::new(writers));
    loop {
        // A free writer first: while none is, callers queue up for a larger group.
        let Ok(permit) = Arc::clone(&writers).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut size = first.events.len();
        let mut group = vec![first];
        while size < max {
            match queue.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let groups = groups.clone();
        tokio::spawn(async move {
            commit_group(&groups, group).await;
            drop(permit);
        });
    }
}

/// Writes one group and answers each of its callers.
async fn commit_group(groups: &Groups, group: Vec<Job>) {
    let (events, replies): (Vec<Vec<UsageEvent>>, Vec<Reply>) =
        group.into_iter().map(|job| (job.events, job.reply)).unzip();
    let sizes: Vec<usize> = events.iter().map(Vec::len).collect();
    let all: Vec<UsageEvent> = events.into_iter().flatten().collect();
    let write = Arc::clone(&groups.write);
    let result = groups.db.run(move |conn| write(conn, &all)).await;
    match result {
        Ok(outcomes) => {
            if let Some(committed) = &groups.committed {
                committed.notify_one();
            }
            let mut outcomes = outcomes.into_iter();
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(Ok(outcomes.by_ref().take(size).collect()));
            }
        }
        Err(err) => {
            log::error!(
                "billing: a usage group of {} events failed: {err}",
                sizes.iter().sum::<usize>()
            );
            let detail = err.to_string();
            for reply in replies {
                let _ = reply.send(Err(BillingError::Unavailable(detail.clone())));
            }
        }
    }
}

/// Runs `work` in a transaction, registering the debits it posted with the spend guard
/// before the commit (see the module doc of `guard`) and withdrawing them if it fails.
pub(super) fn committing<T>(
    conn: &mut PgConnection,
    guard: &Guard,
    work: impl FnOnce(&mut PgConnection) -> Result<(T, Debits), BillingError>,
) -> Result<T, BillingError> {
    let mut registered: Debits = Vec::new();
    let done = conn.transaction(|conn| {
        let (value, debits) = work(conn)?;
        guard.spent(&debits);
        registered = debits;
        Ok::<_, BillingError>(value)
    });
    if done.is_err() {
        guard.unspent(&registered);
    }
    done
}
