//! The readiness review of a packet: per category complete / missing / not applicable, the
//! five review questions answered from the packet, and the exit-criteria verdict.

use serde::Serialize;

use super::families::FAMILY_ORDER;
use super::packet::{NotApplicable, Owner, Packet, Persona};
use super::records::{Flattened, Slot};
use super::validate::Issue;

/// The whole review.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Review {
    /// Product id.
    pub product_id: String,
    /// Product slug, when declared.
    pub slug: Option<String>,
    /// Product name, when declared.
    pub name: Option<String>,
    /// Reasons the packet is invalid outright (empty when valid).
    pub errors: Vec<Issue>,
    /// One per category of the consumption contract.
    pub categories: Vec<CategoryReview>,
    /// The five review questions, answered from the packet.
    pub questions: Vec<Answer>,
    /// Exit criteria and whether each holds.
    pub criteria: Vec<Criterion>,
    /// All exit criteria hold.
    pub ready: bool,
}

/// Status of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CategoryStatus {
    /// Everything declared (some items may be not applicable).
    Complete,
    /// Something required is left out.
    Missing,
    /// The whole category is intentionally not applicable.
    NotApplicable,
}

/// Review of one category.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryReview {
    /// Category name, e.g. `Billing`.
    pub name: &'static str,
    /// Verdict.
    pub status: CategoryStatus,
    /// What exactly is missing (field paths).
    pub missing: Vec<String>,
    /// What is declared not applicable, by whom, why, until when.
    pub not_applicable: Vec<NotApplicableNote>,
}

/// A `not_applicable` declaration as reviewed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotApplicableNote {
    /// Where in the packet.
    pub at: String,
    /// Who decided.
    pub owner: String,
    /// Why.
    pub reason: String,
    /// When to review again.
    pub review_date: String,
    /// The review date has passed.
    pub overdue: bool,
}

/// A review question and its answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Answer {
    /// The question.
    pub question: &'static str,
    /// The answer, drawn from the packet.
    pub answer: String,
}

/// An exit criterion.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Criterion {
    /// The criterion.
    pub criterion: &'static str,
    /// Whether it holds.
    pub holds: bool,
    /// Why (not).
    pub detail: String,
}

/// Category name and the packet sections it covers.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("Product identity", &["product"]),
    ("Ownership", &["ownership"]),
    ("IAM", &["iam"]),
    ("Billing", &["billing"]),
    ("Audit", &["audit"]),
    ("Status and evidence", &["status", "evidence"]),
    ("Notifications", &["notifications"]),
    ("Policy and quota", &["policy"]),
    ("Portal and docs", &["portal"]),
    ("Extraction", &["extraction"]),
    ("Secrets", &["secrets"]),
];

/// Reviews `packet` as of `today`, given the issues validation found.
pub fn review(packet: &Packet, flat: &Flattened, errors: Vec<Issue>, today: time::Date) -> Review {
    let categories: Vec<CategoryReview> = CATEGORIES
        .iter()
        .map(|(name, sections)| category(packet, flat, name, sections, today))
        .collect();
    let questions = super::questions::answer(packet, flat);
    let criteria = criteria(flat, &errors, &categories);
    let ready = criteria.iter().all(|c| c.holds);
    Review {
        product_id: packet.product.id.clone(),
        slug: packet.product.slug.clone(),
        name: packet.product.name.clone(),
        errors,
        categories,
        questions,
        criteria,
        ready,
    }
}

fn note(at: &str, na: &NotApplicable, today: time::Date) -> NotApplicableNote {
    NotApplicableNote {
        at: at.to_owned(),
        owner: na.owner.clone(),
        reason: na.reason.clone(),
        review_date: na.review_date.to_string(),
        overdue: na.review_date.0 < today,
    }
}

fn category(
    packet: &Packet,
    flat: &Flattened,
    name: &'static str,
    sections: &[&str],
    today: time::Date,
) -> CategoryReview {
    let mut missing = Vec::new();
    let mut not_applicable = Vec::new();
    let mut whole_na = 0;
    for section in sections {
        if !packet.has_section(section) {
            missing.push(format!("[{section}] (the whole section)"));
            continue;
        }
        if let Some(na) = packet.section_not_applicable(section) {
            not_applicable.push(note(section, na, today));
            whole_na += 1;
            continue;
        }
        missing.extend(missing_prose(packet, section));
        section_families(flat, section, today, &mut missing, &mut not_applicable);
    }
    let status = match (missing.is_empty(), whole_na == sections.len()) {
        (false, _) => CategoryStatus::Missing,
        (true, true) => CategoryStatus::NotApplicable,
        (true, false) => CategoryStatus::Complete,
    };
    CategoryReview {
        name,
        status,
        missing,
        not_applicable,
    }
}

fn section_families(
    flat: &Flattened,
    section: &str,
    today: time::Date,
    missing: &mut Vec<String>,
    not_applicable: &mut Vec<NotApplicableNote>,
) {
    for slot in flat.slots.iter().filter(|s| s.section == section) {
        let at = format!("{}.{}", slot.section, slot.field);
        match &slot.slot {
            Slot::Missing => missing.push(at),
            Slot::Empty => missing.push(format!("{at} (empty: declare entries or not_applicable)")),
            Slot::NotApplicable(na) => not_applicable.push(note(&at, na, today)),
            Slot::Declared(_) => {}
        }
    }
    let prefix = format!("{section}.");
    for record in flat.records.iter().filter(|r| r.at.starts_with(&prefix)) {
        missing.extend(
            record
                .missing
                .iter()
                .map(|field| format!("{}.{field} ({})", record.at, record.id)),
        );
        if let Some(na) = &record.not_applicable {
            not_applicable.push(note(&format!("{} ({})", record.at, record.id), na, today));
        }
    }
}

fn blank(value: Option<&String>) -> bool {
    value.is_none_or(|v| v.trim().is_empty())
}

/// Required prose and scalar fields of `section` left out.
fn missing_prose(packet: &Packet, section: &str) -> Vec<String> {
    let fields: Vec<(&str, bool)> = match section {
        "product" => product_fields(packet),
        "billing" => packet.billing.as_ref().map_or(Vec::new(), |s| {
            vec![
                ("usage_source", blank(s.usage_source.as_ref())),
                ("rating_posture", blank(s.rating_posture.as_ref())),
                ("ledger_impact", blank(s.ledger_impact.as_ref())),
            ]
        }),
        "audit" => packet.audit.as_ref().map_or(Vec::new(), |s| {
            vec![
                ("read_model", blank(s.read_model.as_ref())),
                (
                    "invariants",
                    s.invariants.as_ref().is_none_or(Vec::is_empty),
                ),
            ]
        }),
        "evidence" => packet.evidence.as_ref().map_or(Vec::new(), |s| {
            vec![
                ("release_proof", blank(s.release_proof.as_ref())),
                ("uat_proof", blank(s.uat_proof.as_ref())),
            ]
        }),
        "status" => packet.status.as_ref().map_or(Vec::new(), |s| {
            vec![("slo_posture", blank(s.slo_posture.as_ref()))]
        }),
        "notifications" => packet.notifications.as_ref().map_or(Vec::new(), |s| {
            vec![("escalation", blank(s.escalation.as_ref()))]
        }),
        "policy" => packet.policy.as_ref().map_or(Vec::new(), |s| {
            vec![("defaults", blank(s.defaults.as_ref()))]
        }),
        "extraction" => packet.extraction.as_ref().map_or(Vec::new(), |s| {
            vec![
                ("posture", s.posture.is_none()),
                ("reason", blank(s.reason.as_ref())),
                ("blockers", s.blockers.is_none()),
                ("triggers", s.triggers.as_ref().is_none_or(Vec::is_empty)),
            ]
        }),
        _ => Vec::new(),
    };
    fields
        .into_iter()
        .filter(|(_, absent)| *absent)
        .map(|(field, _)| format!("{section}.{field}"))
        .collect()
}

fn product_fields(packet: &Packet) -> Vec<(&'static str, bool)> {
    let p = &packet.product;
    let owners = p.owners.as_ref();
    let exposure = p.exposure.as_ref();
    vec![
        ("slug", blank(p.slug.as_ref())),
        ("name", blank(p.name.as_ref())),
        ("description", blank(p.description.as_ref())),
        ("lifecycle", p.lifecycle.is_none()),
        (
            "owners.product",
            blank(owners.and_then(|o| o.product.as_ref())),
        ),
        (
            "owners.engineering",
            blank(owners.and_then(|o| o.engineering.as_ref())),
        ),
        (
            "owners.operations",
            blank(owners.and_then(|o| o.operations.as_ref())),
        ),
        (
            "owners.security",
            blank(owners.and_then(|o| o.security.as_ref())),
        ),
        ("personas", p.personas.as_ref().is_none_or(Vec::is_empty)),
        (
            "exposure.posture",
            exposure.is_none_or(|e| e.posture.is_none()),
        ),
        (
            "exposure.docs_track",
            exposure.is_none_or(|e| e.docs_track.is_none()),
        ),
    ]
}

fn criteria(flat: &Flattened, errors: &[Issue], categories: &[CategoryReview]) -> Vec<Criterion> {
    let incomplete: Vec<&str> = categories
        .iter()
        .filter(|c| c.status == CategoryStatus::Missing)
        .map(|c| c.name)
        .collect();
    let overdue: Vec<String> = categories
        .iter()
        .flat_map(|c| &c.not_applicable)
        .filter(|n| n.overdue)
        .map(|n| n.at.clone())
        .collect();
    let posture: Vec<&str> = categories
        .iter()
        .filter(|c| {
            [
                "Audit",
                "Billing",
                "Policy and quota",
                "Status and evidence",
            ]
            .contains(&c.name)
        })
        .filter(|c| {
            c.status == CategoryStatus::Missing || c.not_applicable.iter().any(|n| n.overdue)
        })
        .map(|c| c.name)
        .collect();
    let personas = page_personas(flat);
    let lacking: Vec<&str> = [
        (Persona::Developer, "developer"),
        (Persona::Product, "product"),
        (Persona::Operator, "operator"),
    ]
    .iter()
    .filter(|(p, _)| !personas.contains(p))
    .map(|(_, name)| *name)
    .collect();
    vec![
        Criterion {
            criterion: "the onboarding packet is complete and reviewable",
            holds: errors.is_empty() && incomplete.is_empty(),
            detail: match (errors.len(), incomplete.is_empty()) {
                (0, true) => "every category is complete or not applicable".into(),
                (0, false) => format!("incomplete: {}", incomplete.join(", ")),
                (n, _) => format!("{n} error(s) make the packet invalid"),
            },
        },
        Criterion {
            criterion: "shared-service registry entries are defined or intentionally not applicable",
            holds: overdue.is_empty() && incomplete.is_empty(),
            detail: match overdue.is_empty() {
                true if incomplete.is_empty() => {
                    "every family has entries or a current not-applicable reason".into()
                }
                true => "some families are neither defined nor marked not applicable".into(),
                false => format!("review date passed for: {}", overdue.join(", ")),
            },
        },
        Criterion {
            criterion: "the product explains its audit, billing, policy and evidence posture",
            holds: posture.is_empty(),
            detail: match posture.is_empty() {
                true => {
                    "audit, billing, policy and status/evidence are declared or explained".into()
                }
                false => format!("not explained: {}", posture.join(", ")),
            },
        },
        Criterion {
            criterion: "the portal has developer, product and operator paths",
            holds: lacking.is_empty(),
            detail: match lacking.is_empty() {
                true => "pages exist for developer, product and operator personas".into(),
                false => format!("no page for: {}", lacking.join(", ")),
            },
        },
    ]
}

fn page_personas(flat: &Flattened) -> Vec<Persona> {
    flat.records
        .iter()
        .filter(|r| r.family == "portal_page" && r.not_applicable.is_none())
        .filter_map(|r| serde_json::from_value(r.attributes.get("persona")?.clone()).ok())
        .collect()
}

/// Families that must be active before this product's entries: its own, in order.
pub fn activation_order(flat: &Flattened) -> Vec<(&'static str, usize)> {
    FAMILY_ORDER
        .iter()
        .map(|family| {
            (
                *family,
                flat.records
                    .iter()
                    .filter(|r| r.family == *family && r.state != "not_applicable")
                    .count(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Ownership declarations owned by the product, as `field: value` lines.
pub fn product_owned(flat: &Flattened, field: &str, key: &str) -> Vec<String> {
    let Some(serde_json::Value::Array(items)) = flat.ownership.get(field) else {
        return Vec::new();
    };
    let product = serde_json::to_value(Owner::Product).unwrap_or_default();
    items
        .iter()
        .filter(|item| item.get("owner") == Some(&product))
        .filter_map(|item| item.get(key).and_then(|v| v.as_str()).map(str::to_owned))
        .collect()
}

/// Why a review blocks onboarding, as located issues.
pub fn blocking_issues(review: &Review) -> Vec<Issue> {
    let mut issues = review.errors.clone();
    for category in &review.categories {
        issues.extend(category.missing.iter().map(|field| Issue {
            at: field.clone(),
            message: format!("missing ({})", category.name),
        }));
        issues.extend(
            category
                .not_applicable
                .iter()
                .filter(|n| n.overdue)
                .map(|n| Issue {
                    at: n.at.clone(),
                    message: format!(
                        "not applicable, but its review date {} has passed",
                        n.review_date
                    ),
                }),
        );
    }
    issues.extend(review.criteria.iter().filter(|c| !c.holds).map(|c| Issue {
        at: "exit criteria".into(),
        message: format!("{}: {}", c.criterion, c.detail),
    }));
    issues
}
