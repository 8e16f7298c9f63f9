//! The organization page's entitlements: each project's standing and where it comes from,
//! the settings live in the organization (with Clear where the viewer may clear), and the
//! form that grants or withholds one for the organization or one of its projects.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use uuid::Uuid;

use super::super::cli::text::set_by;
use super::super::{
    EffectiveEntitlement, EntitlementSettingView, Entitlements, Level, NewEntitlementSetting,
};
use super::{Forms, Sources, after_submit, back_to};
use crate::kit::error::ApiError;
use crate::kit::http::input::Form;
use crate::platform::iam::Authors;
use crate::platform::iam::Project;
use crate::platform::iam::web::session::{self, SignedIn};

#[post("/policy/{org}/entitlements")]
pub(super) async fn set_entitlement(
    signed: SignedIn,
    sources: Sources,
    req: HttpRequest,
    org: web::Path<String>,
    form: Form<EntitlementForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    let form = form.into_inner();
    let set = match form.to_setting(&org) {
        Ok(new) => (sources.entitlements.set_entitlement(&caller, new).await)
            .map(drop)
            .map_err(ApiError::from),
        Err(err) => Err(err),
    };
    let sent_back = |message| Forms {
        entitlement_form: form,
        entitlement_error: Some(message),
        ..Forms::default()
    };
    after_submit((&sources, &signed, &req), &org, set, sent_back).await
}

#[post("/policy/{org}/entitlements/{id}/clear")]
pub(super) async fn clear_entitlement(
    _signed: SignedIn,
    entitlements: web::Data<dyn Entitlements>,
    req: HttpRequest,
    path: web::Path<(String, Uuid)>,
    form: Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = session::form_caller(&req, &form.csrf)?;
    let (org, id) = path.into_inner();
    entitlements.clear_entitlement(&caller, id).await?;
    Ok(back_to(&org))
}

/// One entitlement's standing in one project.
pub struct StandingRow {
    pub project: String,
    pub entitlement: String,
    pub held: bool,
    /// The level of the setting that decided, or `default`.
    pub from: &'static str,
}

impl StandingRow {
    /// `project`'s standing of each entitlement.
    pub fn all(project: &Project, standings: &[EffectiveEntitlement]) -> Vec<StandingRow> {
        standings
            .iter()
            .map(|e| StandingRow {
                project: project.slug.clone(),
                entitlement: e.entitlement.clone(),
                held: e.held,
                from: e.scope.map_or("default", Level::as_str),
            })
            .collect()
    }
}

/// A live setting, its scope named as people know it.
pub struct SettingRow {
    pub id: String,
    pub entitlement: String,
    pub scope: String,
    pub granted: bool,
    pub reason: String,
    pub author: String,
    pub set_by: &'static str,
    /// The viewer may clear it: what an operator imposed only an operator may.
    pub clearable: bool,
}

impl SettingRow {
    /// `s` as `viewer` sees it (`operator`: with platform-wide write), its author named.
    pub fn new(
        s: &EntitlementSettingView,
        projects: &[Project],
        authors: &Authors,
        operator: bool,
    ) -> SettingRow {
        let project = s
            .project_id
            .and_then(|id| projects.iter().find(|p| p.id == id));
        SettingRow {
            id: s.id.to_string(),
            entitlement: s.entitlement.clone(),
            scope: project.map_or("organization".to_owned(), |p| format!("project {}", p.slug)),
            granted: s.granted,
            reason: s.reason.clone(),
            author: authors.name(&s.author),
            set_by: set_by(s.imposed),
            clearable: operator || !s.imposed,
        }
    }
}

/// A grant or a withholding as the form sends it.
#[derive(Debug, Default, Deserialize)]
pub struct EntitlementForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub entitlement: String,
    /// A project's slug; empty: the whole organization.
    #[serde(default)]
    pub project: String,
    /// `grant` or `withhold`.
    #[serde(default)]
    pub setting: String,
    #[serde(default)]
    pub reason: String,
}

impl EntitlementForm {
    /// The setting it asks for, in `org`.
    pub fn to_setting(&self, org: &str) -> Result<NewEntitlementSetting, ApiError> {
        let granted = match self.setting.as_str() {
            "grant" => true,
            "withhold" => false,
            _ => {
                return Err(ApiError::Invalid {
                    field: "setting".into(),
                    reason: "must be `grant` or `withhold`".into(),
                });
            }
        };
        let project = Some(self.project.trim()).filter(|p| !p.is_empty());
        Ok(NewEntitlementSetting {
            entitlement: self.entitlement.trim().to_owned(),
            level: if project.is_some() {
                Level::Project
            } else {
                Level::Organization
            },
            plan: None,
            organization: Some(org.to_owned()),
            project: project.map(str::to_owned),
            granted,
            reason: self.reason.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(project: &str, setting: &str) -> EntitlementForm {
        EntitlementForm {
            entitlement: " product.extra ".into(),
            project: project.into(),
            setting: setting.into(),
            reason: "pilot".into(),
            ..EntitlementForm::default()
        }
    }

    #[test]
    fn an_empty_project_sets_the_whole_organization_and_a_slug_one_project() -> Result<(), ApiError>
    {
        let whole = form("", "withhold").to_setting("acme")?;
        let one = form("web", "grant").to_setting("acme")?;
        assert_eq!(
            (whole.level, whole.project, whole.granted, whole.entitlement),
            (Level::Organization, None, false, "product.extra".to_owned())
        );
        assert_eq!(
            (one.level, one.project, one.granted),
            (Level::Project, Some("web".to_owned()), true)
        );
        Ok(())
    }

    #[test]
    fn a_setting_other_than_grant_or_withhold_is_refused() {
        let refused = form("", "lift").to_setting("acme");
        assert!(matches!(refused, Err(ApiError::Invalid { field, .. }) if field == "setting"));
    }
}
