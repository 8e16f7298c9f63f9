//! `Access` on the blocking pool.

use crate::platform::iam::store::PgIam;
use crate::platform::iam::{Access, Caller, Holdings, IamError, Organization, Place, Target};

#[async_trait::async_trait]
impl Access for PgIam {
    async fn authorize(
        &self,
        caller: &Caller,
        scope: &str,
        target: Target,
    ) -> Result<Place, IamError> {
        // An API key's request is placed and decided from memory: no database round trip.
        if let Caller::Key(principal) = caller {
            return self.authorize_key(principal, scope, &target);
        }
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
        if let Caller::Key(principal) = caller {
            return self.key_place(principal, &target);
        }
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
