//! Who did what, as people know them (on the portal's audit and policy pages and in
//! `aicloud policy explain`): a user by email, where a record keeps only the actor id (a
//! user's id, a key's prefix, `cli:<os user>`). Records keep ids because emails change.

use std::collections::HashMap;

use uuid::Uuid;

use super::People;
use crate::kit::error::ApiError;

/// The emails of the users among a page's authors.
#[derive(Default)]
pub struct Authors(HashMap<Uuid, String>);

impl Authors {
    /// The users among `actor_ids`, named by IAM.
    pub async fn of<'a>(
        people: &dyn People,
        actor_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Authors, ApiError> {
        let mut ids: Vec<Uuid> = actor_ids
            .into_iter()
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(Authors(people.emails_of(ids).await?))
    }

    /// `actor_id` as the page shows it: a user's email, anything else as recorded.
    pub fn name(&self, actor_id: &str) -> String {
        Uuid::parse_str(actor_id)
            .ok()
            .and_then(|id| self.0.get(&id))
            .map_or_else(|| actor_id.to_owned(), String::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_named_by_email_and_other_actors_as_recorded() {
        let user = Uuid::now_v7();
        let authors = Authors(HashMap::from([(user, "ops@example.com".to_owned())]));
        let stranger = Uuid::now_v7().to_string();
        assert_eq!(authors.name(&user.to_string()), "ops@example.com");
        assert_eq!(authors.name("cli:root"), "cli:root");
        assert_eq!(authors.name(&stranger), stranger);
    }
}
