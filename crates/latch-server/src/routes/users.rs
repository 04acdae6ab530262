//! `/v1/users`: user state, a user's sessions, revoke-all.

use axum::Json;
use axum::extract::{Query, State};
use latch_core::user::UserPatch;

use crate::AppState;
use crate::extract::{Body, UserPath};
use crate::problem::Problem;
use crate::views::{ExceptQuery, Revoked, SessionList, SessionView, UpdateUser, UserView};

/// Creates or changes a user. Blocking revokes every session of the user; a role change shows
/// on the next validation everywhere.
#[utoipa::path(put, path = "/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "1 to 256 bytes of UTF-8, percent-encoded")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The user after the change", body = UserView),
        (status = 422, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn put(
    State(app): State<AppState>,
    UserPath(id): UserPath,
    Body(req): Body<UpdateUser>,
) -> Result<Json<UserView>, Problem> {
    let patch = UserPatch::new(req.roles, req.status.map(Into::into), req.attributes)
        .map_err(|e| Problem::invalid(e.to_string()))?;
    let user = app.latch.update_user(&id, &patch).await?;
    Ok(Json(UserView::of(&user)))
}

/// A user's state.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path, description = "1 to 256 bytes of UTF-8, percent-encoded")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "Unknown user", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn get(
    State(app): State<AppState>,
    UserPath(id): UserPath,
) -> Result<Json<UserView>, Problem> {
    let user = app
        .latch
        .user(&id)
        .await?
        .ok_or_else(|| Problem::not_found("user"))?;
    Ok(Json(UserView::of(&user)))
}

/// A user's live sessions with device details, oldest first. Never tokens.
#[utoipa::path(get, path = "/v1/users/{user_id}/sessions", tag = "users",
    params(("user_id" = String, Path, description = "1 to 256 bytes of UTF-8, percent-encoded")),
    responses(
        (status = 200, description = "The sessions", body = SessionList),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn sessions(
    State(app): State<AppState>,
    UserPath(id): UserPath,
) -> Result<Json<SessionList>, Problem> {
    let sessions = app.latch.user_sessions(&id).await?;
    Ok(Json(SessionList {
        sessions: sessions.iter().map(SessionView::of).collect(),
    }))
}

/// Revokes every session of a user, optionally except one ("log out my other devices").
#[utoipa::path(delete, path = "/v1/users/{user_id}/sessions", tag = "users",
    params(("user_id" = String, Path, description = "1 to 256 bytes of UTF-8, percent-encoded"), ExceptQuery),
    responses(
        (status = 200, description = "How many were revoked", body = Revoked),
        (status = 422, description = "Invalid session id in `except`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn revoke_all(
    State(app): State<AppState>,
    UserPath(id): UserPath,
    query: Result<Query<ExceptQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Revoked>, Problem> {
    let Query(q) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let except = q
        .except
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: latch_core::token::InvalidSessionId| Problem::invalid(e.to_string()))?;
    let revoked = app.latch.revoke_user_sessions(&id, except.as_ref()).await?;
    Ok(Json(Revoked { revoked }))
}
