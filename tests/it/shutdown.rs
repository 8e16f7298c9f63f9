//! SIGTERM lets the request in flight finish, then the process exits cleanly.
//! Runs the real binary, since signals are process-wide.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::helpers::{KilledOnDrop, TestDb, aicloud, portal_url, server_command};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Lines the child prints on `stream`, as they arrive.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line containing {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// Polls until some backend waits on a lock: the in-flight request is then parked.
fn wait_until_a_query_is_blocked(conn: &mut PgConnection) {
    for _ in 0..300 {
        let blocked = diesel::sql_query("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")
            .get_result::<Count>(conn)
            .expect("pg_locks")
            .n;
        if blocked > 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the readiness query never blocked");
}

#[test]
fn sigterm_lets_the_in_flight_request_finish_then_exits_zero() {
    let db = TestDb::create();
    // Onboarded, so the parked readiness request answers "ready" once it is let through.
    for packet in [
        "config/products/platform.toml",
        "config/products/token-factory.toml",
    ] {
        let out = aicloud(&db, &["product", "onboard", packet]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = KilledOnDrop(
        server_command(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts"),
    );
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    let banner = wait_for(&stdout, "portal at ");
    let url = portal_url(&banner);

    // Park a readiness request: it needs diesel's migrations table, which we lock.
    let mut locker = db.connect();
    diesel::sql_query("BEGIN")
        .execute(&mut locker)
        .expect("begin");
    diesel::sql_query("LOCK TABLE __diesel_schema_migrations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .expect("lock");
    let in_flight = std::thread::spawn(move || {
        let res = reqwest::blocking::get(format!("{url}readyz")).expect("a response");
        (res.status().as_u16(), res.text().unwrap_or_default())
    });
    let mut observer = db.connect();
    wait_until_a_query_is_blocked(&mut observer);

    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    wait_for(&stderr, "SIGTERM received");
    diesel::sql_query("COMMIT")
        .execute(&mut locker)
        .expect("unlock");

    let (status, body) = in_flight.join().expect("request thread");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ready"), "{body}");
    let exit = child.wait().expect("child exits");
    assert!(exit.success(), "{exit:?}");
    wait_for(&stdout, "aicloud stopped");
}
