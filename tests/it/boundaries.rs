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

fn modules() -> Vec<String> {
    std::fs::read_dir("src/platform")
        .expect("src/platform")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Schemas named `<schema>.<table>` in `text`, among `known`.
fn schemas_named<'a>(text: &str, known: &'a [String]) -> Vec<&'a str> {
    known
        .iter()
        .filter(|schema| {
            text.match_indices(&format!("{schema}.")).any(|(at, _)| {
                let before = text[..at].chars().last();
                !before.is_some_and(|c| {
                    c.is_alphanumeric() || c == '_' || c == '.' || c == '\'' || c == '"'
                })
            })
        })
        .map(String::as_str)
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
            let foreign: Vec<&str> = schemas_named(&sql, &modules)
                .into_iter()
                .filter(|s| s != owner)
                .collect();
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
    for module in modules() {
        let path = format!("src/platform/{module}/schema.rs");
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
