//! A thread that LISTENs on a channel and calls back on every tick, saying whether a
//! notification arrived. It reconnects after failures and ends when the callback says so.
//! Diesel has no blocking wait for notifications, so it polls the socket each tick.

use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

const RECONNECT: Duration = Duration::from_secs(2);

/// What the callback wants next.
pub enum Next {
    /// Keep listening.
    Continue,
    /// End the thread (its owner is gone).
    Stop,
}

/// Starts the listener thread `name` on `channel` of `url`, calling `on_tick(conn, notified)`
/// right after (re)connecting (with `notified = true`, as anything may have been missed) and
/// every `tick`. `wanted` is asked before every (re)connect: a listener whose owner is gone
/// (or whose database was dropped) ends instead of knocking on the server forever.
pub fn spawn<F, W>(
    name: &str,
    url: String,
    channel: &'static str,
    tick: Duration,
    wanted: W,
    mut on_tick: F,
) where
    F: FnMut(&mut PgConnection, bool) -> Result<Next, String> + Send + 'static,
    W: Fn() -> bool + Send + 'static,
{
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            while wanted() {
                match listen(&url, channel, tick, &mut on_tick) {
                    Ok(()) => return,
                    Err(err) => log::warn!("listener on {channel}: {err}; reconnecting"),
                }
                std::thread::sleep(RECONNECT);
            }
        });
    if let Err(err) = spawned {
        log::error!("listener on {channel} could not start: {err}");
    }
}

fn listen<F>(url: &str, channel: &str, tick: Duration, on_tick: &mut F) -> Result<(), String>
where
    F: FnMut(&mut PgConnection, bool) -> Result<Next, String>,
{
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    diesel::sql_query(format!("LISTEN {channel}"))
        .execute(&mut conn)
        .map_err(|e| e.to_string())?;
    let mut notified = true;
    loop {
        if let Next::Stop = on_tick(&mut conn, notified)? {
            return Ok(());
        }
        std::thread::sleep(tick);
        notified = false;
        for notification in conn.notifications_iter() {
            notification.map_err(|e| e.to_string())?;
            notified = true;
        }
    }
}
