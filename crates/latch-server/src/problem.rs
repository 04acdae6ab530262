//! Errors as RFC 9457 `application/problem+json`. Every error the API answers goes through
//! [`Problem`]; none carries a token, secret or key.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case and what to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    /// A problem of kind `slug` (the type URI is `urn:latch:problem:<slug>`).
    pub fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        Self {
            kind: format!("urn:latch:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
        }
    }

    /// Adds the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Replaces the kind (`urn:latch:problem:<slug>`) and title.
    pub fn kind(mut self, slug: &str, title: &str) -> Self {
        self.kind = format!("urn:latch:problem:{slug}");
        self.title = title.to_owned();
        self
    }

    /// 400: the request could not be read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request").detail(detail)
    }

    /// 422: the request was read but a value is not acceptable.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "Invalid request",
        )
        .detail(detail)
    }

    /// 404: no such thing.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found").detail(format!("no such {what}"))
    }

    /// 401: the session token is not active.
    pub fn inactive_session() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "session-inactive",
            "Session not active",
        )
        .detail("the session token is not active: sign in again")
    }

    /// 503: the store cannot be reached. Not "invalid": retry.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "Store unavailable",
        )
        .detail("the session store cannot be reached; nothing was decided, retry shortly")
    }

    /// 500: an internal failure (the OS random source, for instance).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl From<latch_core::Error> for Problem {
    fn from(e: latch_core::Error) -> Self {
        use latch_core::Error as E;
        match e {
            E::Store(err) => {
                tracing::warn!(error = %err, "store unavailable");
                Self::unavailable()
            }
            E::UserBlocked => Self::new(StatusCode::FORBIDDEN, "user-blocked", "User blocked")
                .detail("the user is blocked and may not have sessions"),
            E::Timeout(t) => Self::invalid(t.to_string()),
            e => {
                tracing::error!(error = %e, "internal error");
                Self::internal()
            }
        }
    }
}
