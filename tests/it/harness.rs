//! Each test's database is its own: two tests writing the same row never meet.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::helpers::{TestApp, admin_url};

/// A row no migration will ever have: a future version in diesel's own bookkeeping table,
/// which every migrated database (and so the template) contains.
const SAME_VERSION: &str = "99991231235959";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn rows_with_version(conn: &mut PgConnection) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations WHERE version = $1")
        .bind::<Text, _>(SAME_VERSION)
        .get_result::<Count>(conn)
        .expect("count")
        .n
}

async fn write_the_same_row_and_see_only_mine() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.connect();

    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ($1)")
        .bind::<Text, _>(SAME_VERSION)
        .execute(&mut conn)
        .expect("no other test's row conflicts with mine");

    // Had the twin test shared this database, one of the two inserts above would have
    // failed on the primary key, whichever ran second.
    assert_eq!(rows_with_version(&mut conn), 1);
}

#[tokio::test]
async fn first_of_two_tests_writing_the_same_row() {
    write_the_same_row_and_see_only_mine().await;
}

#[tokio::test]
async fn second_of_two_tests_writing_the_same_row() {
    write_the_same_row_and_see_only_mine().await;
}

#[tokio::test]
async fn a_test_database_is_gone_after_its_test() {
    let name = {
        let app = TestApp::spawn().await;
        app.db.name.clone()
    };
    let mut admin = PgConnection::establish(&admin_url()).expect("admin");

    let left = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(&name)
        .get_result::<Count>(&mut admin)
        .expect("count")
        .n;

    assert_eq!(left, 0);
}
