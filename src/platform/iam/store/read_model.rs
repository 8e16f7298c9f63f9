//! The key read model: every active key and its principal in memory, so authenticating a
//! request touches no database. Reloaded on NOTIFY from any process (issue, revoke,
//! suspend), with a periodic full resync as a safety net.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::Principal;
use super::super::schema::{api_keys, org_memberships, organizations, service_accounts, users};
use crate::db::listen::{self, Next};
use diesel::dsl::exists;

/// Channel notified on every change that affects authentication.
pub const CHANNEL: &str = "iam_changed";
const TICK: Duration = Duration::from_millis(100);
const RESYNC: Duration = Duration::from_secs(30);

/// What authentication needs to know about one key.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub secret_sha256: [u8; 32],
    pub expires_at: Option<OffsetDateTime>,
    pub principal: Principal,
}

/// Active keys (not revoked, organization active) by prefix.
#[derive(Default)]
pub struct ReadModel {
    keys: RwLock<Arc<HashMap<String, KeyEntry>>>,
}

impl ReadModel {
    pub fn get(&self, prefix: &str) -> Option<KeyEntry> {
        let keys = match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        keys.get(prefix).cloned()
    }

    pub fn replace(&self, keys: HashMap<String, KeyEntry>) {
        match self.keys.write() {
            Ok(mut guard) => *guard = Arc::new(keys),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
        }
    }
}

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
pub fn load(conn: &mut PgConnection) -> QueryResult<HashMap<String, KeyEntry>> {
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

/// How a fresh load is adjusted before it is used (user keys narrowed to current grants).
pub type Adjust =
    Box<dyn Fn(&mut PgConnection, &mut HashMap<String, KeyEntry>) -> QueryResult<()> + Send>;

/// Keeps `model` fresh until it is dropped.
pub fn keep_fresh(model: Weak<ReadModel>, url: String, adjust: Adjust) {
    let mut last = Instant::now();
    listen::spawn("iam-listener", url, CHANNEL, TICK, move |conn, notified| {
        let Some(current) = model.upgrade() else {
            return Ok(Next::Stop);
        };
        if notified || last.elapsed() >= RESYNC {
            let mut keys = load(conn).map_err(|e| e.to_string())?;
            adjust(conn, &mut keys).map_err(|e| e.to_string())?;
            current.replace(keys);
            last = Instant::now();
        }
        Ok(Next::Continue)
    });
}
