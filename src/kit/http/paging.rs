//! Every list route pages: `?limit=` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and
//! `?cursor=` (opaque, from the previous page's `next_cursor`). A page holds the items in
//! the order of their unique key, after the cursor's.

use serde::{Deserialize, Serialize};

use crate::kit::error::ApiError;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most items one page may hold.
pub const MAX_LIMIT: u32 = 200;
/// Longest cursor accepted, in characters.
const MAX_CURSOR: usize = 1024;

/// Which page of a list to answer.
/// It takes no `deny_unknown_fields`: a list's own filters share its query string.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Where to go on: the `next_cursor` of the previous page.
    #[param(max_length = 1024)]
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, in the order of their key.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Extracted from the query string and checked at once, so a bad `limit` or `cursor` is a
/// 422 before the handler looks anything up.
impl actix_web::FromRequest for PageQuery {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<PageQuery, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let checked = actix_web::web::Query::<PageQuery>::from_query(req.query_string())
            .map_err(actix_web::Error::from)
            .and_then(|query| {
                let query = query.into_inner();
                query.limit()?;
                query.after()?;
                Ok(query)
            });
        std::future::ready(checked)
    }
}

impl<T> Page<T> {
    /// A page of items a store fetched itself, in order after the cursor: up to
    /// `limit + 1`, the extra one only saying that there is more.
    pub fn fetched(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = match (more, items.last()) {
            (true, Some(last)) => Some(hex::encode(key(last))),
            _ => None,
        };
        Page { items, next_cursor }
    }
}

impl PageQuery {
    /// The limit once range-checked.
    pub fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        match (1..=MAX_LIMIT).contains(&limit) {
            true => Ok(limit as usize),
            false => Err(ApiError::Invalid {
                field: "limit".into(),
                reason: format!("must be 1 to {MAX_LIMIT}"),
            }),
        }
    }

    /// The key after which the page starts, decoded from the cursor.
    pub fn after(&self) -> Result<Option<String>, ApiError> {
        let Some(cursor) = self.cursor.as_deref() else {
            return Ok(None);
        };
        let invalid = || ApiError::Invalid {
            field: "cursor".into(),
            reason: "is not a cursor this list gave out".into(),
        };
        if cursor.len() > MAX_CURSOR {
            return Err(invalid());
        }
        let bytes = hex::decode(cursor).map_err(|_| invalid())?;
        String::from_utf8(bytes).map(Some).map_err(|_| invalid())
    }

    /// The cursor's key as the key type of its list (an id, a sequence number); a key
    /// `parse` refuses is a cursor this list never gave out.
    pub fn after_as<T>(&self, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
        match self.after()? {
            None => Ok(None),
            Some(raw) => parse(&raw).map(Some).ok_or_else(|| ApiError::Invalid {
                field: "cursor".into(),
                reason: "is not a cursor this list gave out".into(),
            }),
        }
    }

    /// The page of `items` (a whole list, held in memory) that this query asks for, each
    /// item ordered by `key`, which must be unique in the list.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> String,
    ) -> Result<Page<T>, ApiError> {
        let (limit, after) = (self.limit()?, self.after()?);
        items.sort_by_cached_key(|item| key(item));
        let start = after.map_or(0, |after| items.partition_point(|item| key(item) <= after));
        let mut rest: Vec<T> = items.into_iter().skip(start).collect();
        let more = rest.len() > limit;
        rest.truncate(limit);
        let next_cursor = match (more, rest.last()) {
            (true, Some(last)) => Some(hex::encode(key(last))),
            _ => None,
        };
        Ok(Page {
            items: rest,
            next_cursor,
        })
    }
}

#[cfg(test)]
#[expect(
    clippy::expect_used,
    reason = "a test should fail loudly at the step that broke"
)]
mod tests {
    use super::*;

    fn query(limit: u32, cursor: Option<String>) -> PageQuery {
        PageQuery {
            limit: Some(limit),
            cursor,
        }
    }

    #[test]
    fn walking_the_cursors_visits_every_item_once_in_key_order() {
        let items: Vec<u32> = (0..7).rev().collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = query(3, cursor)
                .page(items.clone(), |n| format!("{n:03}"))
                .expect("page");
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn limits_out_of_range_and_foreign_cursors_are_refused() {
        assert!(query(0, None).page(vec![1], |n| n.to_string()).is_err());
        assert!(
            query(MAX_LIMIT + 1, None)
                .page(vec![1], |n| n.to_string())
                .is_err()
        );
        let forged = Some("not hex".to_owned());
        assert!(query(5, forged).page(vec![1], |n| n.to_string()).is_err());
    }
}
