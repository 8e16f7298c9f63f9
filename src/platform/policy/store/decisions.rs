//! `Decisions`: decisions from memory, effective snapshots with explanations, and usage
//! against limits.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::super::book::Book;

use super::super::compose::{Subject, compose};
use super::super::decision::{Decision, DecisionInput, Reason};
use super::super::dimensions::{Dimension, Dimensions, FAMILY};
use super::super::engine::{Admission, Engine};
use super::super::entitlements::{Holder, standing};
use super::super::views::{
    EffectiveDimension, EffectiveEntitlement, EffectivePolicy, EffectiveQuery, UsageVsLimit,
};
use super::super::{DECISIONS_CHECK, Decisions, POLICY_READ, PolicyError};
use super::PgPolicy;
use crate::platform::iam::{Caller, OrganizationId, Project, ProjectId, Target};

#[async_trait::async_trait]
impl Decisions for PgPolicy {
    fn decide(&self, input: &DecisionInput) -> (Decision, Option<Admission>) {
        let now = self.with.clock.now();
        let book = self.book.get();
        let home = self.with.tenancy.project_home(input.project);
        let Some((_, department)) = home.filter(|(org, _)| *org == input.organization) else {
            let message = "the project is not in the organization (or does not exist)".to_owned();
            return (
                Engine::refuse(Reason::HardDeny, message, book.version, now),
                None,
            );
        };
        if let Some(refused) = self.unentitled(&book, input, now) {
            return (refused, None);
        }
        let subject = Subject {
            organization: input.organization.0,
            department: Some(department),
            project: Some(input.project.0),
            principal: input.principal,
            api_key: input.api_key.clone(),
        };
        self.engine.decide(
            &book,
            &self.dimensions,
            &subject,
            input,
            now,
            self.engine.mono(),
        )
    }

    fn holds(&self, organization: OrganizationId, project: ProjectId, entitlement: &str) -> bool {
        let Some(definition) = self.entitlements.get(entitlement) else {
            return false;
        };
        let holder = Holder {
            organization: organization.0,
            project: Some(project.0),
        };
        let now = self.with.clock.now();
        standing(&self.book.get(), &definition, holder, now, None).held
    }

    async fn decide_for(
        &self,
        caller: &Caller,
        input: DecisionInput,
    ) -> Result<(Decision, Option<Admission>), PolicyError> {
        let not_found = || PolicyError::NotFound("no such project".into());
        let project = self
            .with
            .tenancy
            .project_by_id(input.project)
            .ok_or_else(not_found)?;
        if project.organization_id != input.organization.0 {
            return Err(not_found());
        }
        let target = self
            .target_of(Some(project.organization_id), Some(project.id))
            .await?;
        self.authorized(caller, DECISIONS_CHECK, target.ok_or_else(not_found)?)
            .await?;
        Ok(self.decide(&input))
    }

    async fn effective(
        &self,
        caller: &Caller,
        query: EffectiveQuery,
    ) -> Result<EffectivePolicy, PolicyError> {
        let (subject, dimensions) = self.subject_of(caller, &query).await?;
        let (now, book) = (self.with.clock.now(), self.book.get());
        let plan = book.plan_of(subject.organization, now);
        let dimensions: Vec<EffectiveDimension> = dimensions
            .iter()
            .map(|d| {
                let composed = compose(&book, &subject, &d.id, query.resource.as_ref(), now);
                EffectiveDimension {
                    dimension: d.id.clone(),
                    product: d.product.clone(),
                    kind: d.kind.as_str().into(),
                    unit: d.unit.clone(),
                    window: (!d.window_text.is_empty()).then(|| d.window_text.clone()),
                    ceiling: composed.ceiling,
                    scope: composed.from.as_ref().map(|(l, _)| *l),
                    scope_id: composed.from.map(|(_, id)| id),
                    considered: composed.considered,
                }
            })
            .collect();
        let plan_name = plan.map(|p| format!("{}@{}", p.name, p.version));
        let products = plan.map(|p| p.products.clone()).unwrap_or_default();
        let holder = Holder {
            organization: subject.organization,
            project: subject.project,
        };
        let entitlements: Vec<EffectiveEntitlement> = self
            .entitlements
            .all()
            .into_iter()
            .filter(|d| plan.is_some_and(|p| p.entitles(&d.product)))
            .map(|d| {
                let standing = standing(&book, &d, holder, now, None);
                EffectiveEntitlement {
                    entitlement: d.id.to_string(),
                    product: d.product.clone(),
                    held: standing.held,
                    scope: standing.level,
                    setting_id: standing.setting_id,
                }
            })
            .collect();
        Ok(EffectivePolicy {
            organization_id: subject.organization,
            project_id: subject.project.unwrap_or_default(),
            api_key: subject.api_key.clone(),
            resource: query
                .resource
                .as_ref()
                .map(|r| format!("{}/{}", r.resource_type, r.id)),
            hash: hash_of(&plan_name, &products, &dimensions, &entitlements),
            plan: plan_name,
            version: book.version,
            products,
            dimensions,
            entitlements,
        })
    }

    async fn usage(
        &self,
        caller: &Caller,
        query: EffectiveQuery,
    ) -> Result<Vec<UsageVsLimit>, PolicyError> {
        let (subject, dimensions) = self.subject_of(caller, &query).await?;
        let (now, book) = (self.with.clock.now(), self.book.get());
        Ok(dimensions
            .iter()
            .map(|d| {
                let standing = self.engine.standing(
                    &book,
                    &subject,
                    query.resource.as_ref(),
                    d,
                    now,
                    self.engine.mono(),
                );
                UsageVsLimit {
                    dimension: d.id.clone(),
                    kind: d.kind.as_str().into(),
                    unit: d.unit.clone(),
                    window: (!d.window_text.is_empty()).then(|| d.window_text.clone()),
                    ceiling: standing.ceiling,
                    scope: standing.from.map(|(l, _)| l),
                    used: standing.used,
                    remaining: standing.remaining,
                }
            })
            .collect())
    }
}

impl PgPolicy {
    /// The refusal for the first entitlement `input` names that the project does not hold
    /// (or that is not an active entitlement).
    fn unentitled(
        &self,
        book: &Book,
        input: &DecisionInput,
        now: OffsetDateTime,
    ) -> Option<Decision> {
        let holder = Holder {
            organization: input.organization.0,
            project: Some(input.project.0),
        };
        input.entitlements.iter().find_map(|id| {
            let (reason, message) = match self.entitlements.get(id) {
                None => (
                    Reason::HardDeny,
                    format!("`{id}` is not an active entitlement"),
                ),
                Some(d) if !standing(book, &d, holder, now, None).held => (
                    Reason::EntitlementMissing,
                    format!("the project does not hold the entitlement `{id}`"),
                ),
                Some(_) => return None,
            };
            let refused = Engine::refuse(reason, message, book.version, now);
            Some(Decision {
                entitlement: Some(Arc::clone(id)),
                ..refused
            })
        })
    }

    /// The subject a query names, once the caller may read its project, and the active
    /// dimensions of the products its plan includes.
    async fn subject_of(
        &self,
        caller: &Caller,
        query: &EffectiveQuery,
    ) -> Result<(Subject, Vec<std::sync::Arc<Dimension>>), PolicyError> {
        let target = Target::project(&query.organization, &query.project);
        let place = self.authorized(caller, POLICY_READ, target).await?;
        let project: Project = place.project()?.clone();
        let mut subject = Subject {
            organization: project.organization_id,
            department: Some(project.department_id),
            project: Some(project.id),
            principal: None,
            api_key: None,
        };
        if let Some(prefix) = &query.api_key {
            super::scopes::text("api_key", prefix, super::scopes::MAX_NAME)?;
            let key = self.with.keys.key_in(&project, prefix).await?;
            subject.principal = key.service_account_id.or(key.user_id);
            subject.api_key = Some(key.prefix);
        }
        let plan = self
            .book
            .get()
            .plan_of(subject.organization, self.with.clock.now())
            .cloned();
        let dimensions = self
            .with
            .registry
            .active_entries(FAMILY)
            .into_iter()
            .filter(|(_, e)| plan.as_ref().is_some_and(|p| p.entitles(&e.product)))
            .filter_map(|(id, _)| self.dimensions.dimension(&id))
            .collect();
        Ok((subject, dimensions))
    }
}

/// SHA-256 over the plan, each dimension's ceiling and its scope, and each entitlement's
/// standing: what a cache compares.
fn hash_of(
    plan: &Option<String>,
    products: &[String],
    dimensions: &[EffectiveDimension],
    entitlements: &[EffectiveEntitlement],
) -> String {
    let values: Vec<_> = dimensions
        .iter()
        .map(|d| serde_json::json!([d.dimension, d.ceiling, d.scope, d.scope_id]))
        .collect();
    let held: Vec<_> = entitlements
        .iter()
        .map(|e| serde_json::json!([e.entitlement, e.held]))
        .collect();
    let text = serde_json::json!([plan, products, values, held]).to_string();
    hex::encode(Sha256::digest(text.as_bytes()))
}
