//! The one table from errors to HTTP: status, stable problem type, and a safe message.
//! API routes answer RFC 9457 `application/problem+json`; portal pages render the same
//! errors as a friendly page (see `http::problem`).

use actix_web::http::StatusCode;
use serde::Serialize;

use crate::base::db::DbError;

/// Media type of problem responses (RFC 9457). The error table owns it, so the modules
/// that render problems (`http::problem`, the portal) depend on this one, never the reverse.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error as an HTTP client may see it. Every module error converts into this.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The resource does not exist (or the caller may not know it exists).
    #[error("{0}")]
    NotFound(String),
    /// The caller is not authenticated.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts; try later.
    #[error("{0}")]
    TooManyRequests(String),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is larger than the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Limit in bytes.
        limit: usize,
    },
    /// The body's content type is not accepted here.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body could not be parsed.
    #[error("{0}")]
    MalformedBody(String),
    /// A value parsed but is not acceptable.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// Where the bad value is (field name or JSON pointer).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Several things are wrong with the input; each says where.
    #[error("{detail}")]
    Rejected {
        /// Summary.
        detail: String,
        /// Each problem, with its location.
        errors: Vec<Issue>,
    },
    /// The request conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// Summary.
        detail: String,
        /// Each conflict, with its location.
        errors: Vec<Issue>,
    },
    /// A dependency (the database) cannot serve the request right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else. The message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// RFC 9457 problem details, plus the request id to quote when reporting it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:aicloud:problem:not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request id (also in the `x-request-id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Each problem found, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Issue>,
}

/// One problem with the input, and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Issue {
    /// Where: `file:line:column` or a field path such as `iam.roles[1].scopes`.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl ApiError {
    /// HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } | ApiError::Rejected { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable slug naming the kind of problem.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not-found",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::MalformedBody(_) => "malformed-body",
            ApiError::Invalid { .. } => "invalid-value",
            ApiError::Rejected { .. } => "rejected",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The error for a bare status that no handler described (actix defaults).
    pub fn from_status(status: StatusCode) -> ApiError {
        match status {
            StatusCode::NOT_FOUND => ApiError::NotFound("no such resource".into()),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::UnsupportedMediaType("unsupported content type".into())
            }
            StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable("try again later".into()),
            s if s.is_client_error() => ApiError::MalformedBody(
                s.canonical_reason().unwrap_or("bad request").to_lowercase(),
            ),
            _ => ApiError::Internal(format!("unhandled status {status}")),
        }
    }

    /// The problem body for this error; internals never leave the process.
    pub fn to_problem(&self, instance: Option<String>, request_id: Option<String>) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Internal(_) => {
                "an internal error occurred; quote the request id when reporting it".into()
            }
            ApiError::PayloadTooLarge { limit: 0 } => "request body is too large".into(),
            other => other.to_string(),
        };
        let field = match self {
            ApiError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let errors = match self {
            ApiError::Rejected { errors, .. } | ApiError::Conflict { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        Problem {
            errors,
            kind: format!("urn:aicloud:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            instance,
            field,
            request_id,
        }
    }
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        // The problem middleware re-renders this with the request id and path; this body is
        // the fallback should a response escape it.
        actix_web::HttpResponse::build(self.status())
            .content_type(PROBLEM_JSON)
            .json(self.to_problem(None, None))
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> ApiError {
        match err {
            DbError::Unavailable(reason) => {
                // The libpq reason names hosts and sockets: log it, tell the client less.
                log::warn!("database unavailable: {reason}");
                ApiError::Unavailable("the database is unavailable".into())
            }
            conflict @ DbError::Conflict { .. } => {
                log::info!("{conflict}");
                ApiError::Conflict {
                    detail: "this conflicts with an existing record".into(),
                    errors: Vec::new(),
                }
            }
            DbError::Refused(reason) => {
                log::warn!("a value got past validation and was refused by the database: {reason}");
                ApiError::Invalid {
                    field: "body".into(),
                    reason: "a value is not acceptable".into(),
                }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

    struct Info(&'static str);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            Some("organizations")
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            Some("organizations_slug_key")
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn client_sees(kind: DatabaseErrorKind, message: &'static str) -> Problem {
        let err = Error::DatabaseError(kind, Box::new(Info(message)));
        ApiError::from(DbError::from(err)).to_problem(None, None)
    }

    #[test]
    fn database_errors_reach_clients_as_their_meaning_never_their_text() {
        let unique = client_sees(
            DatabaseErrorKind::UniqueViolation,
            "duplicate key value violates unique constraint \"organizations_slug_key\"",
        );
        let check = client_sees(
            DatabaseErrorKind::CheckViolation,
            "violates check constraint",
        );
        let closed = client_sees(
            DatabaseErrorKind::ClosedConnection,
            "server closed the connection",
        );

        assert_eq!(
            (unique.status, check.status, closed.status),
            (409, 422, 503)
        );
        for problem in [unique, check, closed] {
            let body = serde_json::to_string(&problem).unwrap_or_default();
            assert!(
                !body.contains("constraint") && !body.contains("organizations"),
                "{body}"
            );
        }
    }
}
