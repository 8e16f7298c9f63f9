//! Each module's `schema.rs` says what its migrations build: the same tables, the same
//! columns, the same nullability (order aside: diesel names every column it selects). Runs against the migrated template, so
//! a migration without its `schema.rs` change (or the reverse) fails the build's tests.

use std::collections::BTreeMap;
use std::path::Path;

use diesel::prelude::*;

use crate::helpers::{TestDb, files_under};

/// Table (`schema.table`) -> its columns: name -> nullable.
type Tables = BTreeMap<String, BTreeMap<String, bool>>;

fn declared() -> Tables {
    let mut tables = Tables::new();
    let sources = ["src/platform", "src/products"].map(|root| files_under(Path::new(root)));
    for path in sources.into_iter().flatten() {
        if path.file_name().is_none_or(|n| n != "schema.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("schema.rs");
        let mut current: Option<String> = None;
        for line in source.lines().map(str::trim) {
            if let Some(head) = line.strip_suffix(" {").filter(|l| l.contains(" (")) {
                let name = head.split(" (").next().expect("a table name").to_owned();
                tables.insert(name.clone(), BTreeMap::new());
                current = Some(name);
            } else if let (Some(table), Some((column, kind))) = (&current, line.split_once(" -> "))
            {
                let nullable = kind.starts_with("Nullable<");
                let columns = tables.get_mut(table).expect("table");
                columns.insert(column.trim_start_matches("r#").to_owned(), nullable);
            } else if line == "}" {
                current = None;
            }
        }
    }
    tables
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    nullable: bool,
}

fn migrated(db: &TestDb, schemas: &[String]) -> Tables {
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_schema || '.' || table_name AS table_name, column_name::text AS column_name, \
         is_nullable = 'YES' AS nullable FROM information_schema.columns c \
         WHERE table_schema = ANY($1) AND EXISTS (SELECT 1 FROM information_schema.tables t \
         WHERE t.table_schema = c.table_schema AND t.table_name = c.table_name \
         AND t.table_type = 'BASE TABLE') ORDER BY table_schema, table_name, ordinal_position",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(schemas)
    .load(&mut db.connect())
    .expect("columns");
    let mut tables = Tables::new();
    for c in columns {
        tables
            .entry(c.table_name)
            .or_default()
            .insert(c.column_name, c.nullable);
    }
    tables
}

#[test]
fn every_schema_rs_matches_what_the_migrations_build() {
    let db = TestDb::create();
    let declared = declared();
    let schemas: Vec<String> = declared
        .keys()
        .filter_map(|t| t.split('.').next())
        .map(str::to_owned)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(schemas.len() >= 4, "found only {schemas:?}");

    let built = migrated(&db, &schemas);

    for (table, columns) in &built {
        let Some(said) = declared.get(table) else {
            panic!("{table} is migrated but missing from its module's schema.rs");
        };
        assert_eq!(
            said, columns,
            "{table}: schema.rs (left) differs from the database"
        );
    }
    for table in declared.keys() {
        assert!(
            built.contains_key(table),
            "{table} is in schema.rs but not migrated"
        );
    }
}
