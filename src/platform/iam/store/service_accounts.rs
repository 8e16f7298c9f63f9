//! Service accounts: project-scoped non-human principals, created and disabled audited.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::service_accounts;
use super::super::{Caller, IamError, Project, ServiceAccount, Target};
use super::PgIam;
use super::read_model::CHANNEL;
use super::rows::ServiceAccountRow;
use crate::platform::audit::NewEvent;

const SA_CREATED: &str = "platform.service_account.created";
const SA_DISABLED: &str = "platform.service_account.disabled";
const IAM_WRITE: &str = "platform.iam.write";

impl PgIam {
    pub(super) fn create_service_account_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        (org, project, name, owner, purpose): (&str, &str, &str, &str, &str),
    ) -> Result<ServiceAccount, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let place =
                self.authorize_on(conn, caller, IAM_WRITE, &Target::project(org, project))?;
            let project = place.project()?;
            let row = ServiceAccountRow {
                id: Uuid::now_v7(),
                organization_id: project.organization_id,
                project_id: project.id,
                name: name.into(),
                owner: owner.into(),
                purpose: purpose.into(),
                created_at: now,
                state: "active".into(),
                disabled_at: None,
            };
            diesel::insert_into(service_accounts::table)
                .values(&row)
                .execute(conn)?;
            self.audit_sa(conn, caller, SA_CREATED, project, row.id)?;
            Ok(row.into())
        })
    }

    /// Disables a service account: its keys are denied on every server at once, and it
    /// gets no new ones. Its keys stay listed, so who held what remains visible.
    pub(super) fn disable_service_account_on(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        (org, project, name): (&str, &str, &str),
    ) -> Result<ServiceAccount, IamError> {
        let now = self.clock.now();
        conn.transaction(|conn| {
            let place =
                self.authorize_on(conn, caller, IAM_WRITE, &Target::project(org, project))?;
            let project = place.project()?;
            let row: ServiceAccountRow = service_accounts::table
                .filter(service_accounts::project_id.eq(project.id))
                .filter(service_accounts::name.eq(name))
                .select(ServiceAccountRow::as_select())
                .for_update()
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    IamError::NotFound(format!("no service account `{name}` in this project"))
                })?;
            if row.state != "active" {
                return Err(IamError::Conflict(format!(
                    "service account `{name}` is already disabled"
                )));
            }
            let disabled: ServiceAccountRow = diesel::update(service_accounts::table.find(row.id))
                .set((
                    service_accounts::state.eq("disabled"),
                    service_accounts::disabled_at.eq(now),
                ))
                .returning(ServiceAccountRow::as_returning())
                .get_result(conn)?;
            self.audit_sa(conn, caller, SA_DISABLED, project, row.id)?;
            diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
            Ok(disabled.into())
        })
    }

    fn audit_sa(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        action: &str,
        project: &Project,
        id: Uuid,
    ) -> Result<(), IamError> {
        let mut event = NewEvent::new(caller.actor(), action, "service_account", &id.to_string());
        (event.organization_id, event.department_id, event.project_id) = (
            Some(project.organization_id),
            Some(project.department_id),
            Some(project.id),
        );
        self.audit.append_in(conn, event)?;
        Ok(())
    }

    pub(super) fn service_accounts_on(
        conn: &mut PgConnection,
        project_id: Uuid,
    ) -> Result<Vec<ServiceAccount>, IamError> {
        let rows: Vec<ServiceAccountRow> = service_accounts::table
            .filter(service_accounts::project_id.eq(project_id))
            .order(service_accounts::name)
            .select(ServiceAccountRow::as_select())
            .load(conn)?;
        Ok(rows.into_iter().map(ServiceAccount::from).collect())
    }
}
