//! What the policy pages show, made from policy's views: text the templates print as is.

use super::super::cli::text::{limit_text, override_state, shown};
use super::super::{AssignmentView, Level, OverrideView, PlanView, UsageVsLimit, Value};
use crate::platform::iam::Authors;
use crate::platform::iam::Project;

/// A plan's latest version.
pub struct PlanRow {
    pub name: String,
    pub version: i32,
    pub description: String,
    pub products: String,
    pub limits: Vec<String>,
}

impl From<&PlanView> for PlanRow {
    fn from(p: &PlanView) -> PlanRow {
        PlanRow {
            name: p.name.clone(),
            version: p.version,
            description: p.description.clone(),
            products: p.products.join(", "),
            limits: p.limits.iter().map(limit_text).collect(),
        }
    }
}

/// An organization's plan from an instant.
pub struct AssignmentRow {
    pub plan: String,
    pub from: String,
    pub by: String,
}

impl AssignmentRow {
    /// `a`, its author named.
    pub fn new(a: &AssignmentView, authors: &Authors) -> AssignmentRow {
        AssignmentRow {
            plan: a.plan.clone(),
            from: shown(&a.effective_from),
            by: authors.name(&a.created_by),
        }
    }
}

/// An override, its scope named as people know it.
pub struct OverrideRow {
    pub id: String,
    pub level: &'static str,
    pub scope: String,
    pub dimension: String,
    pub resource: String,
    pub value: String,
    pub reason: String,
    pub author: String,
    pub live: bool,
    pub state: String,
    /// Set by an operator: a tenant cannot clear it.
    pub imposed: bool,
}

impl OverrideRow {
    /// `o`, a project's scope shown by its slug and its author named.
    pub fn new(o: &OverrideView, projects: &[Project], authors: &Authors) -> OverrideRow {
        let project = o
            .project_id
            .and_then(|id| projects.iter().find(|p| p.id == id));
        let scope = match (o.level, project) {
            (Level::Project, Some(p)) => format!("project {}", p.slug),
            (_, Some(p)) => format!("{} in project {}", o.scope_id, p.slug),
            (_, None) => o.scope_id.clone(),
        };
        OverrideRow {
            id: o.id.to_string(),
            level: o.level.as_str(),
            scope,
            dimension: o.dimension.clone(),
            resource: o.resource.clone().unwrap_or_default(),
            value: o.value.to_string(),
            reason: o.reason.clone(),
            author: authors.name(&o.author),
            live: o.live,
            state: override_state(o),
            imposed: o.imposed,
        }
    }
}

/// A project's use of each dimension against its ceiling.
pub struct ProjectUsage {
    pub slug: String,
    pub name: String,
    pub bars: Vec<Bar>,
}

impl ProjectUsage {
    /// `project`'s bars.
    pub fn new(project: &Project, usage: Vec<UsageVsLimit>) -> ProjectUsage {
        ProjectUsage {
            slug: project.slug.clone(),
            name: project.name.clone(),
            bars: usage.iter().map(Bar::from).collect(),
        }
    }
}

/// One dimension's bar: a `<meter>` from 0 to the ceiling when there is one.
pub struct Bar {
    pub dimension: String,
    pub kind: String,
    pub window: String,
    pub used: u64,
    /// The finite ceiling, the meter's maximum.
    pub ceiling: Option<u64>,
    /// What the bar says in words.
    pub label: String,
    /// Where the ceiling was set.
    pub scope: String,
}

impl From<&UsageVsLimit> for Bar {
    fn from(u: &UsageVsLimit) -> Bar {
        let label = match u.ceiling {
            Value::Limit(max) => {
                format!("{} of {max} {} ({}%)", u.used, u.unit, percent(u.used, max))
            }
            Value::Unlimited => format!("{} {}, unlimited", u.used, u.unit),
            Value::NotEntitled => "not entitled".to_owned(),
        };
        Bar {
            dimension: u.dimension.clone(),
            kind: u.kind.clone(),
            window: u.window.clone().unwrap_or_default(),
            used: u.used,
            ceiling: u.ceiling.amount(),
            label,
            scope: u
                .scope
                .map_or("nothing limits it", |l| l.as_str())
                .to_owned(),
        }
    }
}

/// `used` as a whole percentage of `max` (100 for a zero ceiling already reached).
fn percent(used: u64, max: u64) -> u128 {
    match max {
        0 => 100,
        max => u128::from(used) * 100 / u128::from(max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_says_how_much_of_its_ceiling_is_used() {
        let usage = |ceiling| UsageVsLimit {
            dimension: "d".into(),
            kind: "quota".into(),
            unit: "tokens".into(),
            window: Some("month".into()),
            ceiling,
            scope: Some(Level::Plan),
            used: 150,
            remaining: None,
        };
        let bar = Bar::from(&usage(Value::Limit(600)));
        assert_eq!(bar.label, "150 of 600 tokens (25%)");
        assert_eq!(bar.ceiling, Some(600));
        assert_eq!(Bar::from(&usage(Value::Unlimited)).ceiling, None);
        assert_eq!(
            Bar::from(&usage(Value::Limit(0))).label,
            "150 of 0 tokens (100%)"
        );
    }
}
