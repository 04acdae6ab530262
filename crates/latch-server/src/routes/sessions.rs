//! `/v1/sessions`: create, validate, rotate, log out, revoke by id.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_core::session::Device;
use latch_core::user::UserId;
use latch_core::{NewSession, Validation};

use crate::AppState;
use crate::extract::{Body, SessionPath};
use crate::problem::Problem;
use crate::views::{
    CreateSession, IssuedView, SessionView, TokenInput, ValidationAnswer, ValidationView,
};

/// Creates a session for a user the application has authenticated.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions",
    request_body = CreateSession,
    responses(
        (status = 201, description = "Session created", body = IssuedView),
        (status = 403, description = "User blocked", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<AppState>,
    Body(req): Body<CreateSession>,
) -> Result<impl IntoResponse, Problem> {
    let user_id = UserId::new(&req.user_id).map_err(|e| Problem::invalid(e.to_string()))?;
    let device = req.device.unwrap_or_default();
    let ip = device
        .ip
        .map(|s| s.parse::<IpAddr>())
        .transpose()
        .map_err(|_| Problem::invalid("device.ip must be an IPv4 or IPv6 address"))?;
    let device = Device::new(device.user_agent, ip).map_err(|e| Problem::invalid(e.to_string()))?;
    let issued = app
        .latch
        .create_session(NewSession {
            user_id,
            device,
            idle_timeout_s: req.idle_timeout_s,
            absolute_timeout_s: req.absolute_timeout_s,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedView {
            token: issued.token.expose().to_owned(),
            session: SessionView::of(&issued.session),
        }),
    ))
}

/// Validates a token: the session and the user's current state, or `{"active": false}`.
#[utoipa::path(post, path = "/v1/sessions/validate", tag = "sessions",
    request_body = TokenInput,
    responses(
        (status = 200, description = "Active or not", body = ValidationView),
        (status = 503, description = "Store unavailable: not a verdict, retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn validate(
    State(app): State<AppState>,
    Body(req): Body<TokenInput>,
) -> Result<Response, Problem> {
    let v = app.latch.validate(&req.token).await?;
    let active = match &v {
        Validation::Active(a) => Some(a),
        Validation::Inactive(_) => None,
    };
    // Sized for a typical answer up front: growing a small buffer twice costs more than the
    // serialization itself on this route.
    let mut body = Vec::with_capacity(if active.is_some() { 640 } else { 20 });
    serde_json::to_writer(&mut body, &ValidationAnswer(active)).map_err(|e| {
        tracing::error!(error = %e, "cannot serialize a validation answer");
        Problem::internal()
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// Replaces the token of an active session (after a privilege change, say); the old token is
/// inactive at once.
#[utoipa::path(post, path = "/v1/sessions/rotate", tag = "sessions",
    request_body = TokenInput,
    responses(
        (status = 200, description = "New token", body = IssuedView),
        (status = 401, description = "Session not active", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn rotate(
    State(app): State<AppState>,
    Body(req): Body<TokenInput>,
) -> Result<Json<IssuedView>, Problem> {
    let issued = app
        .latch
        .rotate(&req.token)
        .await?
        .ok_or_else(Problem::inactive_session)?;
    Ok(Json(IssuedView {
        token: issued.token.expose().to_owned(),
        session: SessionView::of(&issued.session),
    }))
}

/// Logs out: revokes the session behind the token. 204 whether or not it was active.
#[utoipa::path(post, path = "/v1/sessions/revoke", tag = "sessions",
    request_body = TokenInput,
    responses(
        (status = 204, description = "Revoked (or was not active)"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn revoke(
    State(app): State<AppState>,
    Body(req): Body<TokenInput>,
) -> Result<StatusCode, Problem> {
    app.latch.revoke_token(&req.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a session by id (an admin action, or "log out that device").
#[utoipa::path(delete, path = "/v1/sessions/{session_id}", tag = "sessions",
    params(("session_id" = String, Path, description = "36 lowercase hex digits")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn delete(
    State(app): State<AppState>,
    SessionPath(id): SessionPath,
) -> Result<StatusCode, Problem> {
    if app.latch.revoke_session(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("session"))
    }
}
