//! `/access/{org}/{project}`: a project's members, service accounts and API keys, with key
//! creation that shows the secret once.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;

use super::{Submitted, at};
use crate::kit::error::ApiError;
use crate::kit::portal::{layout::Layout, render};
use crate::platform::iam::Iam;
use crate::platform::iam::web::session;
use crate::platform::iam::web::session::SignedIn;
use crate::platform::iam::web::session::form_caller;
use crate::platform::iam::{
    ApiKeyView, Caller, IssuedKey, Member, NewKey, Organization, PROJECT_ROLES, Place, Project,
    ServiceAccount, Target,
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(project_page)
        .service(set_member)
        .service(remove_member)
        .service(create_service_account)
        .service(disable_service_account)
        .service(create_key)
        .service(revoke_key)
        .service(rotate_key);
}

const IAM_WRITE: &str = "platform.iam.write";
const KEYS_MANAGE: &str = "platform.keys.manage";

/// A key as the page lists it.
struct KeyRow {
    key: ApiKeyView,
    acts_as: String,
}

#[derive(Template)]
#[template(path = "iam/project.html")]
struct ProjectPage {
    layout: Layout,
    org: Organization,
    project: Project,
    can_write: bool,
    can_manage_keys: bool,
    members: Vec<Member>,
    service_accounts: Vec<ServiceAccount>,
    keys: Vec<KeyRow>,
    /// Scopes the person holds here: the ones a new key may carry.
    scopes: Vec<String>,
    project_roles: &'static [&'static str],
    issued: Option<IssuedKey>,
}

fn path_of(org: &str, project: &str) -> String {
    format!("/access/{org}/{project}")
}

async fn project_page_for(
    iam: &Iam,
    req: &HttpRequest,
    (org, project): (&str, &str),
    issued: Option<IssuedKey>,
) -> Result<HttpResponse, ApiError> {
    let (_, place, holdings) = at(iam, req, Target::project(org, project)).await?;
    let (org, project) = (place.org()?.clone(), place.project()?.clone());
    let members = iam.members.project_members(&project).await?;
    let service_accounts = iam.keys.service_accounts(&project).await?;
    // Keys act as any member of the organization, not only project members.
    let people = iam.members.org_members(&org).await?;
    let keys = iam
        .keys
        .keys(&project)
        .await?
        .into_iter()
        .map(|key| KeyRow {
            acts_as: acts_as(&key, &service_accounts, &people),
            key,
        })
        .collect();
    render(&ProjectPage {
        layout: Layout::page(&project.name, Some("iam"), req),
        can_write: holdings.holds(IAM_WRITE),
        can_manage_keys: holdings.holds(KEYS_MANAGE),
        scopes: holdings.scopes.iter().cloned().collect(),
        project_roles: &PROJECT_ROLES,
        members,
        service_accounts,
        keys,
        issued,
        org,
        project,
    })
}

fn acts_as(key: &ApiKeyView, accounts: &[ServiceAccount], people: &[Member]) -> String {
    match (key.service_account_id, key.user_id) {
        (Some(id), _) => accounts.iter().find(|sa| sa.id == id).map_or_else(
            || id.to_string(),
            |sa| format!("service account {}", sa.name),
        ),
        (None, Some(id)) => people
            .iter()
            .find(|m| m.user_id == id)
            .map_or_else(|| format!("user {id}"), |m| m.email.clone()),
        (None, None) => "nobody".into(),
    }
}

#[get("/access/{org}/{project}")]
async fn project_page(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    project_page_for(&iam, &req, (&path.0, &path.1), None).await
}

/// The form's caller and the project it targets.
async fn project_form(
    iam: &Iam,
    req: &HttpRequest,
    path: &(String, String),
    body: &[u8],
) -> Result<(Submitted, Place), ApiError> {
    let form = Submitted::parse(req, body)?;
    let (_, place, _) = at(iam, req, Target::project(&path.0, &path.1)).await?;
    Ok((form, place))
}

#[post("/access/{org}/{project}/members")]
async fn set_member(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (form, place) = project_form(&iam, &req, &path, &body).await?;
    iam.members
        .set_project_member(
            &form.caller,
            place.project()?,
            form.field("email"),
            form.field("role"),
        )
        .await?;
    Ok(session::redirect(&path_of(&path.0, &path.1)))
}

#[post("/access/{org}/{project}/members/remove")]
async fn remove_member(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (form, place) = project_form(&iam, &req, &path, &body).await?;
    iam.members
        .remove_project_member(&form.caller, place.project()?, form.field("email"))
        .await?;
    Ok(session::redirect(&path_of(&path.0, &path.1)))
}

#[post("/access/{org}/{project}/service-accounts")]
async fn create_service_account(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (form, _) = project_form(&iam, &req, &path, &body).await?;
    iam.keys
        .create_service_account(
            &form.caller,
            &path.0,
            &path.1,
            form.field("name"),
            form.field("owner"),
            form.field("purpose"),
        )
        .await?;
    Ok(session::redirect(&path_of(&path.0, &path.1)))
}

#[post("/access/{org}/{project}/service-accounts/{name}/disable")]
async fn disable_service_account(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    form: crate::kit::http::input::Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = form_caller(&req, &form.csrf)?;
    iam.keys
        .disable_service_account(&caller, &path.0, &path.1, &path.2)
        .await?;
    Ok(session::redirect(&path_of(&path.0, &path.1)))
}

/// Issues a key and shows its secret on this response only.
#[post("/access/{org}/{project}/keys")]
async fn create_key(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (form, place) = project_form(&iam, &req, &path, &body).await?;
    let project = place.project()?;
    let service_account = match form.field("acts_as") {
        "" | "me" => None,
        name => Some(name),
    };
    let holder = iam
        .keys
        .holder_in(&form.caller, project, service_account)
        .await?;
    let scopes: Vec<String> = form.all("scopes");
    let models: Vec<String> = form
        .field("models")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    let key = NewKey {
        holder,
        name: form.field("name").to_owned(),
        scopes,
        model_allowlist: (!models.is_empty()).then_some(models),
        expires_at: None,
    };
    let issued = iam.keys.issue_key(&form.caller, key).await?;
    project_page_for(&iam, &req, (&path.0, &path.1), Some(issued)).await
}

/// The key `prefix` of the project in the form's path; 404 when it is another project's.
async fn key_form(
    iam: &Iam,
    req: &HttpRequest,
    path: &(String, String, String),
    csrf: &str,
) -> Result<Caller, ApiError> {
    let caller = form_caller(req, csrf)?;
    let place = iam
        .access
        .authorize(&caller, KEYS_MANAGE, Target::project(&path.0, &path.1))
        .await?;
    iam.keys.key_in(place.project()?, &path.2).await?;
    Ok(caller)
}

#[post("/access/{org}/{project}/keys/{prefix}/revoke")]
async fn revoke_key(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    form: crate::kit::http::input::Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = key_form(&iam, &req, &path, &form.csrf).await?;
    iam.keys.revoke_key(&caller, &path.2).await?;
    Ok(session::redirect(&path_of(&path.0, &path.1)))
}

/// Rotates at once (the old key stops now) and shows the new secret once.
#[post("/access/{org}/{project}/keys/{prefix}/rotate")]
async fn rotate_key(
    _signed: SignedIn,
    iam: web::Data<Iam>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    form: crate::kit::http::input::Form<session::CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = key_form(&iam, &req, &path, &form.csrf).await?;
    let issued = iam
        .keys
        .rotate_key(&caller, &path.2, std::time::Duration::ZERO)
        .await?;
    project_page_for(&iam, &req, (&path.0, &path.1), Some(issued)).await
}
