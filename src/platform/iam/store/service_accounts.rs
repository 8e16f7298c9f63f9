//! Service accounts: project-scoped non-human principals, each created audited.

use diesel::prelude::*;
use uuid::Uuid;

use super::super::schema::service_accounts;
use super::super::{Caller, IamError, ServiceAccount, Target};
use super::PgIam;
use crate::platform::audit::NewEvent;

const SA_CREATED: &str = "platform.service_account.created";
const IAM_WRITE: &str = "platform.iam.write";

impl PgIam {
    pub(super) fn create_sa_on(
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
            let sa = ServiceAccount {
                id: Uuid::now_v7(),
                organization_id: project.organization_id,
                project_id: project.id,
                name: name.into(),
                owner: owner.into(),
                purpose: purpose.into(),
                created_at: now,
            };
            diesel::insert_into(service_accounts::table)
                .values((
                    service_accounts::id.eq(sa.id),
                    service_accounts::organization_id.eq(sa.organization_id),
                    service_accounts::project_id.eq(sa.project_id),
                    service_accounts::name.eq(name),
                    service_accounts::owner.eq(owner),
                    service_accounts::purpose.eq(purpose),
                    service_accounts::created_at.eq(now),
                ))
                .execute(conn)?;
            let mut event = NewEvent::new(
                caller.actor(),
                SA_CREATED,
                "service_account",
                &sa.id.to_string(),
            );
            (event.organization_id, event.department_id, event.project_id) = (
                Some(project.organization_id),
                Some(project.department_id),
                Some(project.id),
            );
            self.audit.append_in(conn, event)?;
            Ok(sa)
        })
    }

    pub(super) fn service_accounts_on(
        conn: &mut PgConnection,
        project_id: Uuid,
    ) -> Result<Vec<ServiceAccount>, IamError> {
        let rows: Vec<(
            Uuid,
            Uuid,
            Uuid,
            String,
            String,
            String,
            time::OffsetDateTime,
        )> = service_accounts::table
            .filter(service_accounts::project_id.eq(project_id))
            .order(service_accounts::name)
            .select((
                service_accounts::id,
                service_accounts::organization_id,
                service_accounts::project_id,
                service_accounts::name,
                service_accounts::owner,
                service_accounts::purpose,
                service_accounts::created_at,
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|r| ServiceAccount {
                id: r.0,
                organization_id: r.1,
                project_id: r.2,
                name: r.3,
                owner: r.4,
                purpose: r.5,
                created_at: r.6,
            })
            .collect())
    }
}
