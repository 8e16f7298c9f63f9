//! Every migration's down.sql undoes its up.sql.

use aicloud::base::db::MIGRATIONS;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::MigrationHarness;

use crate::helpers::TestDb;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn module_schemas(conn: &mut PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.schemata \
         WHERE schema_name NOT IN ('public', 'information_schema') AND schema_name NOT LIKE 'pg\\_%'",
    )
    .get_result::<Count>(conn)
    .expect("schemata")
    .n
}

#[test]
fn reverting_every_migration_leaves_no_module_schema_and_reapplying_restores_them() {
    let db = TestDb::create();
    let mut conn = db.connect();
    let migrated = module_schemas(&mut conn);
    assert!(migrated > 0);

    conn.revert_all_migrations(MIGRATIONS)
        .expect("every down.sql runs");
    assert_eq!(module_schemas(&mut conn), 0);

    conn.run_pending_migrations(MIGRATIONS)
        .expect("every up.sql runs again");
    assert_eq!(module_schemas(&mut conn), migrated);
}
