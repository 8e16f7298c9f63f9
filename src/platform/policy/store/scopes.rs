//! The registry names a plan or override refers to, checked from memory: each must be an
//! active entry, of the dimension's product, and the override's level one the product
//! registered an override scope for.

use std::sync::Arc;

use super::super::PolicyError;
use super::super::dimensions::{Dimension, Dimensions};
use super::super::value::{Level, Resource};
use crate::platform::registry::Registry;

/// Longest registry id, plan name, resource id or reason policy accepts.
pub const MAX_NAME: usize = 200;

/// Checks bounded, printable text.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<(), PolicyError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(PolicyError::invalid(
            field,
            format!("must be 1 to {max} characters, none of them control characters"),
        ));
    }
    Ok(())
}

/// The value a level needs (a plan's name, an organization's or project's slug), checked.
pub fn required<'a>(field: &'static str, value: Option<&'a str>) -> Result<&'a str, PolicyError> {
    let value = value.ok_or_else(|| PolicyError::invalid(field, "is required at this level"))?;
    text(field, value, MAX_NAME)?;
    Ok(value)
}

/// The active dimension `id`.
pub fn dimension(dimensions: &dyn Dimensions, id: &str) -> Result<Arc<Dimension>, PolicyError> {
    text("dimension", id, MAX_NAME)?;
    dimensions.dimension(id).ok_or_else(|| {
        PolicyError::invalid(
            "dimension",
            format!("`{id}` is not an active quota dimension"),
        )
    })
}

/// A resource of a type the dimension's product declares.
pub fn resource(
    registry: &dyn Registry,
    dimension: &Dimension,
    resource: Option<&Resource>,
) -> Result<(), PolicyError> {
    let Some(resource) = resource else {
        return Ok(());
    };
    text("resource.id", &resource.id, MAX_NAME)?;
    let declared = registry
        .active_entry("resource_type", &resource.resource_type)
        .is_some_and(|e| e.product == dimension.product);
    if !declared {
        return Err(PolicyError::invalid(
            "resource.resource_type",
            format!(
                "`{}` is not an active resource type of {}",
                resource.resource_type, dimension.product
            ),
        ));
    }
    if dimension.kind == crate::platform::registry::packet::DimensionKind::Quota {
        return Err(PolicyError::invalid(
            "resource",
            "billing's quota feed counts usage per unit, not per resource: a quota cannot be set for one resource",
        ));
    }
    Ok(())
}

/// The override scope of the dimension's product that covers `level` (and the resource's
/// type, for a per-resource override).
pub fn override_scope(
    registry: &dyn Registry,
    dimension: &Dimension,
    level: Level,
    resource: Option<&Resource>,
) -> Result<String, PolicyError> {
    let wanted_type = resource.map(|r| r.resource_type.as_str());
    registry
        .active_entries("override_scope")
        .into_iter()
        .find(|(_, entry)| {
            let levels = entry.attributes.get("levels").and_then(|v| v.as_array());
            let covers =
                levels.is_some_and(|l| l.iter().any(|v| v.as_str() == Some(level.as_str())));
            let rtype = entry
                .attributes
                .get("resource_type")
                .and_then(|v| v.as_str());
            entry.product == dimension.product && covers && rtype == wanted_type
        })
        .map(|(id, _)| id)
        .ok_or_else(|| {
            let what = match wanted_type {
                Some(t) => format!("the {} level for one `{t}`", level.as_str()),
                None => format!("the {} level", level.as_str()),
            };
            PolicyError::invalid(
                "level",
                format!(
                    "{} registered no override scope at {what}, so `{}` cannot be overridden there",
                    dimension.product, dimension.id
                ),
            )
        })
}
