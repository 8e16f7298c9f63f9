//! Ownership holds in the source: platform modules name no product, and each module's SQL
//! and diesel schema touch only its own Postgres schema.

use std::path::Path;

use crate::helpers::files_under;

/// Every name a non-platform packet gives its product: id, slug and display name.
fn product_names() -> Vec<String> {
    let mut names = Vec::new();
    for path in files_under(Path::new("config/products")) {
        let table: toml::Table =
            toml::from_str(&std::fs::read_to_string(&path).expect("packet")).expect("toml");
        let product = table["product"].as_table().expect("[product]");
        if product["id"].as_str() == Some("platform") {
            continue;
        }
        for key in ["id", "slug", "name"] {
            names.extend(
                product
                    .get(key)
                    .and_then(|v| v.as_str())
                    .map(str::to_lowercase),
            );
        }
    }
    assert!(
        names.len() >= 6,
        "expected at least two products' names, got {names:?}"
    );
    names
}

#[test]
fn platform_modules_never_name_a_product() {
    let names = product_names();
    let mut offenders = Vec::new();
    for path in files_under(Path::new("src/platform")) {
        let source = std::fs::read_to_string(&path)
            .expect("source")
            .to_lowercase();
        for name in &names {
            if source.contains(name.as_str()) {
                offenders.push(format!("{} mentions `{name}`", path.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "product names in platform code:\n{}",
        offenders.join("\n")
    );
}

/// Every module and product, by name: each owns the Postgres schema of its name.
fn modules() -> Vec<String> {
    module_dirs().into_iter().map(|(name, _)| name).collect()
}

/// (name, folder) of every platform module and every product.
fn module_dirs() -> Vec<(String, String)> {
    ["src/platform", "src/products"]
        .iter()
        .flat_map(|root| {
            std::fs::read_dir(root)
                .unwrap_or_else(|_| panic!("{root}"))
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name.clone(), format!("{root}/{name}"))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Schemas among `known` that `text` names as `<schema>.` where `opens` accepts the text
/// before the name.
fn named_where<'a>(text: &str, known: &'a [String], opens: impl Fn(&str) -> bool) -> Vec<&'a str> {
    known
        .iter()
        .filter(|schema| {
            text.match_indices(&format!("{schema}."))
                .any(|(at, _)| opens(&text[..at]))
        })
        .map(String::as_str)
        .collect()
}

/// Schemas named `<schema>.<table>` in SQL `text`, among `known`.
fn schemas_named<'a>(text: &str, known: &'a [String]) -> Vec<&'a str> {
    named_where(text, known, |before| {
        !before
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '\'' || c == '"')
    })
}

/// Of the schemas `find` sees in `text`, those that are not `owner`'s.
fn foreign<'a>(
    find: fn(&str, &'a [String]) -> Vec<&'a str>,
    text: &str,
    known: &'a [String],
    owner: &str,
) -> Vec<&'a str> {
    find(text, known)
        .into_iter()
        .filter(|s| *s != owner)
        .collect()
}

#[test]
fn each_migration_touches_only_its_own_module_schema() {
    let modules = modules();
    for dir in std::fs::read_dir("migrations")
        .expect("migrations")
        .flatten()
    {
        let name = dir.file_name().to_string_lossy().into_owned();
        let owner = modules
            .iter()
            .find(|m| name.contains(&format!("_{m}_")))
            .unwrap_or_else(|| panic!("migration {name} is not named <ts>_<module>_<what>"));
        for file in files_under(&dir.path()) {
            let sql = std::fs::read_to_string(&file).expect("sql");
            let foreign = foreign(schemas_named, &sql, &modules, owner);
            assert!(
                foreign.is_empty(),
                "{} names schemas {foreign:?}",
                file.display()
            );
        }
    }
}

#[test]
fn each_diesel_schema_declares_only_its_own_module_tables() {
    for (module, dir) in module_dirs() {
        let path = format!("{dir}/schema.rs");
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in source.lines().map(str::trim) {
            let Some(table) = line
                .strip_suffix(" {")
                .filter(|l| l.contains(" (") || l.contains('.'))
            else {
                continue;
            };
            if table.contains('.') && !table.starts_with("diesel") {
                assert!(table.starts_with(&format!("{module}.")), "{path}: {table}");
            }
        }
    }
}

/// The layer a source file belongs to, by its folder.
fn layer_of(path: &Path) -> &'static str {
    let path = path.to_string_lossy();
    match () {
        _ if path.starts_with("src/base/") => "base",
        // The error table is the kit's floor: the problem renderers and the portal use it.
        _ if path == "src/kit/error.rs" => "error table",
        _ if path.starts_with("src/kit/") => "kit",
        _ if path.starts_with("src/platform/") => "module",
        _ if path.starts_with("src/products/") => "product",
        _ => "root",
    }
}

/// The crate paths a layer may not name: each layer names only the layers below it.
fn forbidden_for(layer: &str) -> &'static [&'static str] {
    match layer {
        "base" => &[
            "crate::kit",
            "crate::platform",
            "crate::products",
            "crate::app",
            "crate::cli",
        ],
        "error table" => &[
            "crate::kit::http",
            "crate::kit::portal",
            "crate::kit::cli",
            "crate::platform",
            "crate::products",
            "crate::app",
            "crate::cli",
        ],
        "kit" => &[
            "crate::platform",
            "crate::products",
            "crate::app",
            "crate::cli",
        ],
        // The platform never depends on a product; a product uses the platform's traits.
        "module" => &["crate::products", "crate::app", "crate::cli"],
        "product" => &["crate::app", "crate::cli"],
        _ => &[],
    }
}

#[test]
fn dependencies_run_one_way_base_kit_modules_root() {
    let mut offenders = Vec::new();
    for path in files_under(Path::new("src")) {
        let layer = layer_of(&path);
        let source = std::fs::read_to_string(&path).expect("source");
        for (n, line) in source.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for forbidden in forbidden_for(layer) {
                if line.contains(&format!("{forbidden}::"))
                    || line.contains(&format!("{forbidden};"))
                {
                    offenders.push(format!(
                        "{}:{}: {layer} names {forbidden}",
                        path.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "layering broken:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_diesel_table_names_its_schema() {
    for (module, dir) in module_dirs() {
        let path = format!("{dir}/schema.rs");
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in source.lines().map(str::trim) {
            if let Some(table) = line.strip_suffix(" {").filter(|l| l.contains(" (")) {
                assert!(
                    table.starts_with(&format!("{module}.")),
                    "{path}: `{table}` is unqualified"
                );
            }
        }
    }
}

#[test]
fn module_code_names_no_other_modules_schema_in_raw_sql() {
    let modules = modules();
    for (module, dir) in &module_dirs() {
        for path in files_under(Path::new(dir)) {
            let source = std::fs::read_to_string(&path).expect("source");
            // SQL lives in string literals; scopes like "platform.iam.read" are preceded by a dot.
            let foreign = foreign(sql_schemas, &source, &modules, module);
            assert!(
                foreign.is_empty(),
                "{} names schemas {foreign:?}",
                path.display()
            );
        }
    }
}

/// Schemas a Rust source names as `<schema>.<table>` right after an SQL keyword that
/// takes a table (`FROM`, `JOIN`, `INTO`, `UPDATE`, `TABLE`, `ON`), in any case.
fn sql_schemas<'a>(source: &str, known: &'a [String]) -> Vec<&'a str> {
    let sql_keywords = ["from ", "join ", "into ", "update ", "table ", "on "];
    named_where(source, known, |before| {
        // The longest keyword and its space fit in the last 8 characters.
        let tail = before
            .char_indices()
            .rev()
            .nth(7)
            .map_or(before, |(at, _)| &before[at..]);
        let tail = tail.to_lowercase();
        sql_keywords.iter().any(|k| tail.ends_with(k))
    })
}

#[test]
fn the_raw_sql_check_sees_schemas_in_sql_and_not_in_scope_names() {
    let known = ["iam".to_owned(), "events".to_owned()];

    let sql = sql_schemas(
        "sql_query(\"SELECT a FROM iam.users JOIN events.outbox\")",
        &known,
    );
    let scopes = sql_schemas("\"platform.iam.read\", \"events.max_attempts\"", &known);

    assert_eq!(sql, ["iam", "events"]);
    assert!(scopes.is_empty(), "{scopes:?}");
}
