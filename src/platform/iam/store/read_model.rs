//! The key read model: every active key and its principal in memory, so authenticating a
//! request touches no database. A [`crate::base::db::snapshot::Snapshot`] reloaded on NOTIFY
//! from any process (issue, revoke, suspend), with a periodic full resync as a safety net.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::Principal;
use super::super::schema::{api_keys, org_memberships, organizations, service_accounts, users};
use crate::base::db::snapshot::Freshness;
use diesel::dsl::exists;

/// Channel notified on every change that affects authentication.
pub const CHANNEL: &str = "iam_changed";

/// How the read model stays fresh: a revoked key fails within a second everywhere.
pub const FRESHNESS: Freshness = Freshness {
    channel: CHANNEL,
    poll: Duration::from_millis(100),
    resync: Duration::from_secs(30),
};

/// What authentication needs to know about one key.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub secret_sha256: [u8; 32],
    pub expires_at: Option<OffsetDateTime>,
    pub principal: Principal,
}

/// Active keys (not revoked, organization active) by prefix.
pub type Keys = HashMap<String, KeyEntry>;

/// SHA-256 of a key's secret part.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares in time independent of where the first difference is.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

type Row = (
    String,
    String,
    Option<Uuid>,
    Option<Uuid>,
    Uuid,
    Uuid,
    Uuid,
    Vec<String>,
    Option<Vec<String>>,
    Option<OffsetDateTime>,
);

/// Every usable key: not revoked, in an active organization, of an active service account,
/// or of an active user who is still a member of that organization.
pub fn load(conn: &mut PgConnection) -> QueryResult<Keys> {
    let member = org_memberships::table
        .filter(org_memberships::organization_id.eq(api_keys::organization_id))
        .filter(org_memberships::user_id.nullable().eq(api_keys::user_id));
    let active_user = users::table
        .filter(users::id.nullable().eq(api_keys::user_id))
        .filter(users::state.eq("active"));
    let active_account = service_accounts::table
        .filter(
            service_accounts::id
                .nullable()
                .eq(api_keys::service_account_id),
        )
        .filter(service_accounts::state.eq("active"));
    let rows: Vec<Row> = api_keys::table
        .inner_join(organizations::table)
        .filter(api_keys::revoked_at.is_null())
        .filter(organizations::state.eq("active"))
        .filter(
            api_keys::user_id
                .is_null()
                .or(exists(member).and(exists(active_user))),
        )
        .filter(
            api_keys::service_account_id
                .is_null()
                .or(exists(active_account)),
        )
        .select((
            api_keys::prefix,
            api_keys::secret_sha256,
            api_keys::service_account_id,
            api_keys::user_id,
            api_keys::organization_id,
            api_keys::department_id,
            api_keys::project_id,
            api_keys::scopes,
            api_keys::model_allowlist,
            api_keys::expires_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(prefix, hash, sa, user, org, dept, project, scopes, models, expires_at)| {
                // A service account lives in its project; a user key may also act at the
                // organization level, within what its user holds there (narrowed later).
                let (kind, id, organization_scopes) = match (sa, user) {
                    (Some(sa), _) => ("service_account", sa, Vec::new()),
                    (None, user) => ("user", user?, scopes.clone()),
                };
                let principal = Principal {
                    kind,
                    id,
                    organization_id: org,
                    department_id: dept,
                    project_id: project,
                    key_prefix: prefix.clone(),
                    scopes,
                    organization_scopes,
                    model_allowlist: models,
                };
                Some((
                    prefix,
                    KeyEntry {
                        secret_sha256: unhex(&hash)?,
                        expires_at,
                        principal,
                    },
                ))
            },
        )
        .collect())
}
