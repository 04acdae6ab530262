//! The [`Session`] extractor: the request's active session, validated once per request.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_core::session::SessionRecord;
use latch_core::user::User;
use latch_core::{ActiveSession, Validation};

use crate::layer::Sessions;

/// The request's active session and its user's current state. Extracting it validates the
/// session cookie (or bearer token) unless an earlier extractor did for this request.
#[derive(Clone, Debug)]
pub struct Session {
    active: ActiveSession,
    token: String,
}

impl Session {
    /// The session record (id, device, times).
    pub fn record(&self) -> &SessionRecord {
        self.active.record()
    }

    /// The user as of this request: roles and status are current.
    pub fn user(&self) -> &User {
        self.active.user()
    }

    /// Whether the user has `role` now.
    pub fn has_role(&self, role: &str) -> bool {
        self.active.user().has_role(role)
    }

    /// The validation result, for everything else.
    pub fn active(&self) -> &ActiveSession {
        &self.active
    }

    /// The token the request carried; needed to sign out or rotate. Never log it.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Why [`Session`] could not be extracted.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Rejection {
    /// No active session: 401.
    Unauthenticated,
    /// The store cannot be reached: 503 (not a verdict on the session).
    Unavailable,
    /// [`crate::LatchLayer`] is not installed: 500.
    MissingLayer,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "sign in first\n"),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "sessions are unavailable for a moment; retry\n",
            ),
            Self::MissingLayer => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
        };
        let mut r = (status, text).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self == Self::Unavailable {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// What this request's validation found, kept so a second extractor does not validate again.
#[derive(Clone)]
enum Resolved {
    Active(Session),
    Anonymous,
    Unavailable,
}

async fn resolve(parts: &mut Parts) -> Result<Resolved, Rejection> {
    if let Some(r) = parts.extensions.get::<Resolved>() {
        return Ok(r.clone());
    }
    let sessions = parts
        .extensions
        .get::<Sessions>()
        .cloned()
        .ok_or(Rejection::MissingLayer)?;
    let resolved = match token(parts, &sessions) {
        None => Resolved::Anonymous,
        Some(token) => match sessions.latch().validate(&token).await {
            Ok(Validation::Active(active)) => Resolved::Active(Session { active, token }),
            Ok(Validation::Inactive(_)) => Resolved::Anonymous,
            Err(e) => {
                tracing::warn!(error = %e, "session store unavailable");
                Resolved::Unavailable
            }
        },
    };
    parts.extensions.insert(resolved.clone());
    Ok(resolved)
}

/// The session cookie, else `Authorization: Bearer`.
fn token(parts: &Parts, sessions: &Sessions) -> Option<String> {
    let h = &parts.headers;
    sessions
        .cookie()
        .token_in(
            h.get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
            h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()),
        )
        .map(str::to_owned)
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        match resolve(parts).await? {
            Resolved::Active(s) => Ok(s),
            Resolved::Anonymous => Err(Rejection::Unauthenticated),
            Resolved::Unavailable => Err(Rejection::Unavailable),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Rejection> {
        match resolve(parts).await? {
            Resolved::Active(s) => Ok(Some(s)),
            Resolved::Anonymous => Ok(None),
            Resolved::Unavailable => Err(Rejection::Unavailable),
        }
    }
}
