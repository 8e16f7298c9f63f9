//! `PgIam`: IAM over PostgreSQL schema `iam`.

mod access;
mod keys;
mod last_used;
mod members;
mod people;
mod read_model;
mod rows;
mod tenancy;

use std::sync::Arc;

pub use last_used::flush_last_used_periodically;

use uuid::Uuid;

use super::people::{CurrentUser, People, SignedIn, User};
use super::{
    Access, ApiKeyView, Caller, CreatedOrganization, Decision, Department, Holdings, IamError,
    Invitation, IssuedInvitation, IssuedKey, Keys, Member, Members, NewKey, OrgKind, Organization,
    Place, Principal, Project, RoleBinding, ServiceAccount, Target, Tenancy,
};
use crate::clock::Clock;
use crate::db::Db;
use crate::platform::audit::{Actor, Audit};
use crate::platform::events::{Events, Message};
use crate::platform::registry::Registry;

/// IAM backed by PostgreSQL, with the key read model in memory.
#[derive(Clone)]
pub struct PgIam {
    db: Db,
    audit: Arc<dyn Audit>,
    events: Arc<dyn Events>,
    registry: Arc<dyn Registry>,
    clock: Arc<dyn Clock>,
    read_model: Arc<read_model::ReadModel>,
    last_used: Arc<last_used::LastUsed>,
}

impl PgIam {
    /// IAM over `db`: loads the key read model and keeps it fresh from `url`'s notifications.
    pub async fn start(
        db: Db,
        url: String,
        audit: Arc<dyn Audit>,
        events: Arc<dyn Events>,
        registry: Arc<dyn Registry>,
        clock: Arc<dyn Clock>,
    ) -> Result<PgIam, IamError> {
        let model = Arc::new(read_model::ReadModel::default());
        let keys = db
            .run({
                let registry = Arc::clone(&registry);
                move |conn| load_keys(conn, registry.as_ref())
            })
            .await?;
        model.replace(keys);
        let narrowing = Arc::clone(&registry);
        let adjust: read_model::Adjust =
            Box::new(move |conn, keys| access::narrow_user_keys(conn, narrowing.as_ref(), keys));
        read_model::keep_fresh(Arc::downgrade(&model), url, adjust);
        Ok(PgIam {
            db,
            audit,
            events,
            registry,
            clock,
            read_model: model,
            last_used: Arc::default(),
        })
    }
}

impl PgIam {
    /// Announces an IAM change on the outbox, in the caller's transaction (subjects are the
    /// platform packet's `platform.iam.*` events).
    fn announce(
        &self,
        conn: &mut diesel::PgConnection,
        subject: &str,
        payload: serde_json::Value,
    ) -> Result<(), IamError> {
        self.events
            .publish_in(conn, Message::new(subject, payload))
            .map(|_| ())
            .map_err(|err| {
                IamError::Db(crate::db::DbError::Aborted(format!(
                    "announcing {subject}: {err}"
                )))
            })
    }
}

/// Every usable key, user keys narrowed to what their users hold now.
fn load_keys(
    conn: &mut diesel::PgConnection,
    registry: &dyn Registry,
) -> Result<std::collections::HashMap<String, read_model::KeyEntry>, IamError> {
    let mut keys = read_model::load(conn)?;
    access::narrow_user_keys(conn, registry, &mut keys)?;
    Ok(keys)
}

/// Slugs: lowercase letters, digits and `-`, starting with a letter or digit, at most 63.
fn check_slug(field: &'static str, slug: &str) -> Result<(), IamError> {
    let ok = (1..=63).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match ok {
        true => Ok(()),
        false => Err(IamError::Invalid {
            field,
            reason: format!(
                "`{slug}` must be 1 to 63 lowercase letters, digits and -, starting with a letter or digit"
            ),
        }),
    }
}

fn check_name(name: &str) -> Result<(), IamError> {
    match (1..=200).contains(&name.trim().chars().count()) {
        true => Ok(()),
        false => Err(IamError::Invalid {
            field: "name",
            reason: "must be 1 to 200 characters".into(),
        }),
    }
}

#[async_trait::async_trait]
impl Tenancy for PgIam {
    async fn create_organization(
        &self,
        slug: &str,
        name: &str,
        kind: OrgKind,
        owner: Option<&str>,
        actor: Actor,
    ) -> Result<CreatedOrganization, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let (this, slug, name) = (self.clone(), slug.to_owned(), name.trim().to_owned());
        let owner = owner.map(str::to_owned);
        self.db
            .run(move |conn| {
                this.create_organization_on(conn, &slug, &name, kind, owner.as_deref(), actor)
            })
            .await
    }

    async fn organizations(&self) -> Result<Vec<Organization>, IamError> {
        self.db.run(tenancy::organizations).await
    }

    async fn suspend_organization(
        &self,
        slug: &str,
        actor: Actor,
    ) -> Result<Organization, IamError> {
        let (this, slug) = (self.clone(), slug.to_owned());
        self.db
            .run(move |conn| this.suspend_on(conn, &slug, actor))
            .await
    }

    async fn create_project(
        &self,
        organization: &str,
        slug: &str,
        name: &str,
        department: Option<&str>,
        actor: Actor,
    ) -> Result<Project, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let this = self.clone();
        let (organization, slug, name) = (
            organization.to_owned(),
            slug.to_owned(),
            name.trim().to_owned(),
        );
        let department = department.map(str::to_owned);
        self.db
            .run(move |conn| {
                this.create_project_on(
                    conn,
                    &organization,
                    &slug,
                    &name,
                    department.as_deref(),
                    actor,
                )
            })
            .await
    }

    async fn create_department(
        &self,
        organization: &str,
        slug: &str,
        name: &str,
        actor: Actor,
    ) -> Result<Department, IamError> {
        check_slug("slug", slug)?;
        check_name(name)?;
        let this = self.clone();
        let [organization, slug, name] = [organization, slug, name.trim()].map(str::to_owned);
        self.db
            .run(move |conn| this.create_department_on(conn, &organization, &slug, &name, actor))
            .await
    }

    async fn departments(&self, organization: &str) -> Result<Vec<Department>, IamError> {
        let organization = organization.to_owned();
        self.db
            .run(move |conn| tenancy::departments(conn, &organization))
            .await
    }

    async fn projects(&self, organization: &str) -> Result<Vec<Project>, IamError> {
        let organization = organization.to_owned();
        self.db
            .run(move |conn| tenancy::projects(conn, &organization))
            .await
    }
}

/// Random bytes as hex, for key prefixes, secrets and session tokens.
fn random_hex(bytes: usize) -> Result<String, IamError> {
    crate::encoding::random_hex(bytes).map_err(|e| IamError::Invalid {
        field: "secret",
        reason: format!("no randomness available: {e}"),
    })
}

fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[async_trait::async_trait]
impl Keys for PgIam {
    async fn create_service_account(
        &self,
        caller: &Caller,
        organization: &str,
        project: &str,
        name: &str,
        owner: &str,
        purpose: &str,
    ) -> Result<ServiceAccount, IamError> {
        check_slug("name", name)?;
        for (field, value) in [("owner", owner), ("purpose", purpose)] {
            if value.trim().is_empty() {
                return Err(IamError::Invalid {
                    field,
                    reason: "must not be empty".into(),
                });
            }
        }
        let (this, caller) = (self.clone(), caller.clone());
        let args: [String; 5] = [organization, project, name, owner, purpose].map(str::to_owned);
        self.db
            .run(move |conn| {
                let [o, p, n, w, u] = &args;
                this.create_sa_on(conn, &caller, (o, p, n, w, u))
            })
            .await
    }

    async fn issue_key(&self, caller: &Caller, key: NewKey) -> Result<IssuedKey, IamError> {
        if key.name.trim().is_empty() {
            return Err(IamError::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
        }
        let (this, caller) = (self.clone(), caller.clone());
        let issued = self
            .db
            .run(move |conn| this.issue_on(conn, &caller, key))
            .await?;
        self.reload().await?;
        Ok(issued)
    }

    async fn service_accounts(&self, project: &Project) -> Result<Vec<ServiceAccount>, IamError> {
        let project = project.id;
        self.db
            .run(move |conn| PgIam::service_accounts_on(conn, project))
            .await
    }

    async fn key(&self, prefix: &str) -> Result<ApiKeyView, IamError> {
        let prefix = prefix.to_owned();
        self.db.run(move |conn| PgIam::key_on(conn, &prefix)).await
    }

    async fn keys(&self, project: &Project) -> Result<Vec<ApiKeyView>, IamError> {
        let project = project.id;
        self.db.run(move |conn| PgIam::keys_on(conn, project)).await
    }

    async fn revoke_key(&self, caller: &Caller, prefix: &str) -> Result<ApiKeyView, IamError> {
        let (this, caller, prefix) = (self.clone(), caller.clone(), prefix.to_owned());
        let revoked = self
            .db
            .run(move |conn| this.revoke_on(conn, &caller, &prefix))
            .await?;
        self.reload().await?;
        Ok(revoked)
    }

    async fn rotate_key(
        &self,
        caller: &Caller,
        prefix: &str,
        grace: std::time::Duration,
    ) -> Result<IssuedKey, IamError> {
        let (this, caller, prefix) = (self.clone(), caller.clone(), prefix.to_owned());
        let issued = self
            .db
            .run(move |conn| this.rotate_on(conn, &caller, &prefix, grace))
            .await?;
        self.reload().await?;
        Ok(issued)
    }

    fn authenticate(&self, bearer: &str) -> Result<Principal, IamError> {
        self.authenticate_in_memory(bearer)
    }

    async fn flush_last_used(&self) -> Result<usize, IamError> {
        self.write_last_used().await
    }

    fn decide(
        &self,
        principal: &Principal,
        scope: &str,
        organization: Uuid,
        project: Option<Uuid>,
    ) -> Decision {
        self.decide_now(principal, scope, organization, project)
    }
}

impl PgIam {
    /// This process sees its own changes at once; others through NOTIFY.
    async fn reload(&self) -> Result<(), IamError> {
        let registry = Arc::clone(&self.registry);
        let keys = self
            .db
            .run(move |conn| load_keys(conn, registry.as_ref()))
            .await?;
        self.read_model.replace(keys);
        Ok(())
    }
}

#[async_trait::async_trait]
impl People for PgIam {
    async fn bootstrap(
        &self,
        email: &str,
        password: Option<String>,
        actor: Actor,
    ) -> Result<(User, String), IamError> {
        let (this, email) = (self.clone(), email.to_owned());
        self.db
            .run(move |conn| this.bootstrap_on(conn, &email, password, actor))
            .await
    }

    async fn users(&self) -> Result<Vec<User>, IamError> {
        self.db.run(PgIam::users_on).await
    }

    async fn create_user(
        &self,
        email: &str,
        display_name: &str,
        password: &str,
        actor: Actor,
    ) -> Result<User, IamError> {
        let _ = actor;
        let (this, email, name, password) = (
            self.clone(),
            email.to_owned(),
            display_name.to_owned(),
            password.to_owned(),
        );
        self.db
            .run(move |conn| this.create_user_on(conn, &email, &name, &password))
            .await
    }

    async fn set_password(
        &self,
        email: &str,
        password: &str,
        actor: Actor,
    ) -> Result<(), IamError> {
        let (this, email, password) = (self.clone(), email.to_owned(), password.to_owned());
        self.db
            .run(move |conn| this.set_password_on(conn, &email, &password, actor))
            .await
    }

    async fn set_platform_role(
        &self,
        email: &str,
        role: &str,
        grant: bool,
        actor: Actor,
    ) -> Result<(), IamError> {
        let (this, email, role) = (self.clone(), email.to_owned(), role.to_owned());
        self.db
            .run(move |conn| this.set_platform_role_on(conn, &email, &role, grant, actor))
            .await
    }

    async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        keep_session: &str,
        client_ip: &str,
    ) -> Result<(), IamError> {
        let (this, user) = (self.clone(), user.clone());
        let [current, new, keep, ip] = [current, new, keep_session, client_ip].map(str::to_owned);
        self.db
            .run(move |conn| this.change_password_on(conn, &user, (&current, &new), &keep, &ip))
            .await
    }

    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
    ) -> Result<SignedIn, IamError> {
        let (this, email, password, ip) = (
            self.clone(),
            email.to_owned(),
            password.to_owned(),
            client_ip.to_owned(),
        );
        self.db
            .run(move |conn| this.sign_in_on(conn, &email, &password, &ip))
            .await
    }

    async fn session(&self, token: &str) -> Result<Option<CurrentUser>, IamError> {
        let (token, now) = (token.to_owned(), self.clock.now());
        self.db
            .run(move |conn| PgIam::session_on(conn, &token, now))
            .await
    }

    async fn sign_out(&self, token: &str) -> Result<(), IamError> {
        let token = token.to_owned();
        self.db
            .run(move |conn| PgIam::sign_out_on(conn, &token))
            .await
    }
}

#[async_trait::async_trait]
impl Access for PgIam {
    async fn authorize(
        &self,
        caller: &Caller,
        scope: &str,
        target: Target,
    ) -> Result<Place, IamError> {
        let (this, caller, scope) = (self.clone(), caller.clone(), scope.to_owned());
        self.db
            .run(move |conn| this.authorize_on(conn, &caller, &scope, &target))
            .await
    }

    async fn holdings(
        &self,
        caller: &Caller,
        target: Target,
    ) -> Result<(Place, Holdings), IamError> {
        let (this, caller) = (self.clone(), caller.clone());
        self.db
            .run(move |conn| this.place_on(conn, &caller, &target))
            .await
    }

    async fn visible_organizations(&self, caller: &Caller) -> Result<Vec<Organization>, IamError> {
        let (this, caller) = (self.clone(), caller.clone());
        self.db
            .run(move |conn| this.visible_organizations_on(conn, &caller))
            .await
    }
}

/// Runs a membership change on the pool with owned copies of its arguments.
macro_rules! on_pool {
    ($self:ident, |$this:ident, $conn:ident| $body:expr) => {{
        let $this = $self.clone();
        $self.db.run(move |$conn| $body).await
    }};
}

/// Like `on_pool!`, then reloads this process's key read model at once: memberships decide
/// what user keys hold (other processes follow by NOTIFY).
macro_rules! changing_access {
    ($self:ident, |$this:ident, $conn:ident| $body:expr) => {{
        let changed = on_pool!($self, |$this, $conn| $body)?;
        $self.reload().await?;
        Ok(changed)
    }};
}

#[async_trait::async_trait]
impl Members for PgIam {
    async fn org_members(&self, org: &Organization) -> Result<Vec<Member>, IamError> {
        let org = org.id;
        self.db
            .run(move |conn| PgIam::org_members_on(conn, org))
            .await
    }

    async fn set_org_member(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError> {
        let (caller, org, email, role) = (
            caller.clone(),
            org.clone(),
            email.to_owned(),
            role.to_owned(),
        );
        changing_access!(self, |this, conn| this
            .set_org_member_on(conn, &caller, &org, &email, &role))
    }

    async fn remove_org_member(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
    ) -> Result<(), IamError> {
        let (caller, org, email) = (caller.clone(), org.clone(), email.to_owned());
        changing_access!(self, |this, conn| this
            .remove_org_member_on(conn, &caller, &org, &email))
    }

    async fn project_members(&self, project: &Project) -> Result<Vec<Member>, IamError> {
        let project = project.id;
        self.db
            .run(move |conn| PgIam::project_members_on(conn, project))
            .await
    }

    async fn set_project_member(
        &self,
        caller: &Caller,
        project: &Project,
        email: &str,
        role: &str,
    ) -> Result<Member, IamError> {
        let (caller, project, email, role) = (
            caller.clone(),
            project.clone(),
            email.to_owned(),
            role.to_owned(),
        );
        changing_access!(self, |this, conn| {
            let org = tenancy::organization_by_id(conn, project.organization_id)?;
            this.set_project_member_on(conn, &caller, &org, &project, &email, &role)
        })
    }

    async fn remove_project_member(
        &self,
        caller: &Caller,
        project: &Project,
        email: &str,
    ) -> Result<(), IamError> {
        let (caller, project, email) = (caller.clone(), project.clone(), email.to_owned());
        changing_access!(self, |this, conn| {
            let org = tenancy::organization_by_id(conn, project.organization_id)?;
            this.remove_project_member_on(conn, &caller, &org, &project, &email)
        })
    }

    async fn role_bindings(&self, org: &Organization) -> Result<Vec<RoleBinding>, IamError> {
        let org = org.id;
        self.db
            .run(move |conn| PgIam::role_bindings_on(conn, org))
            .await
    }

    async fn grant_role(
        &self,
        caller: &Caller,
        org: &Organization,
        project: Option<&Project>,
        email: &str,
        role: &str,
    ) -> Result<RoleBinding, IamError> {
        let (caller, org, project) = (caller.clone(), org.clone(), project.cloned());
        let (email, role) = (email.to_owned(), role.to_owned());
        changing_access!(self, |this, conn| this.grant_role_on(
            conn,
            &caller,
            &org,
            project.as_ref(),
            &email,
            &role
        ))
    }

    async fn revoke_role(
        &self,
        caller: &Caller,
        org: &Organization,
        binding: Uuid,
    ) -> Result<(), IamError> {
        let (caller, org) = (caller.clone(), org.clone());
        changing_access!(self, |this, conn| this
            .revoke_role_on(conn, &caller, &org, binding))
    }

    async fn invite(
        &self,
        caller: &Caller,
        org: &Organization,
        email: &str,
        role: &str,
        valid_for: time::Duration,
    ) -> Result<IssuedInvitation, IamError> {
        let (caller, org, email, role) = (
            caller.clone(),
            org.clone(),
            email.to_owned(),
            role.to_owned(),
        );
        on_pool!(self, |this, conn| this
            .invite_on(conn, &caller, &org, &email, &role, valid_for))
    }

    async fn invitations(&self, org: &Organization) -> Result<Vec<Invitation>, IamError> {
        let org = org.clone();
        self.db
            .run(move |conn| PgIam::invitations_on(conn, &org))
            .await
    }

    async fn invitation(&self, token: &str) -> Result<Invitation, IamError> {
        let token = token.to_owned();
        on_pool!(self, |this, conn| this
            .open_invitation_on(conn, &token)
            .map(|(_, i)| i))
    }

    async fn join(
        &self,
        token: &str,
        display_name: &str,
        password: &str,
    ) -> Result<User, IamError> {
        let [token, name, password] = [token, display_name, password].map(str::to_owned);
        changing_access!(self, |this, conn| this
            .join_on(conn, &token, &name, &password))
    }

    async fn accept_invitation(&self, token: &str, user: &User) -> Result<Member, IamError> {
        let (token, user) = (token.to_owned(), user.clone());
        changing_access!(self, |this, conn| this.accept_on(conn, &token, &user))
    }
}
