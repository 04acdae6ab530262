//! `/v1/api-keys`: manage the keys applications use. Keys are shown once, at creation; only
//! their hashes are kept.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::AppState;
use crate::extract::Body;
use crate::problem::Problem;
use crate::views::{ApiKeyList, ApiKeyView, CreateApiKey, NewApiKeyView};

/// Creates an API key.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The new key, shown once", body = NewApiKeyView),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<AppState>,
    Body(req): Body<CreateApiKey>,
) -> Result<impl IntoResponse, Problem> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Problem::invalid(
            "name must be 1 to 64 characters without control characters",
        ));
    }
    let new = app.latch.create_api_key(name).await?;
    reload(&app).await?;
    Ok((StatusCode::CREATED, Json(NewApiKeyView::of(new))))
}

/// Applies a key change on this node at once (other nodes pick it up at their next upkeep).
async fn reload(app: &AppState) -> Result<(), Problem> {
    app.api_keys
        .reload(app.latch.store().as_ref())
        .await
        .map_err(|e| Problem::from(latch_core::Error::from(e)))
}

/// Lists stored API keys (never the keys themselves).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    responses((status = 200, description = "The keys", body = ApiKeyList)),
    security(("api_key" = [])))]
pub async fn list(State(app): State<AppState>) -> Result<Json<ApiKeyList>, Problem> {
    let keys = app
        .latch
        .store()
        .api_keys()
        .await
        .map_err(latch_core::Error::from)?;
    Ok(Json(ApiKeyList {
        api_keys: keys.iter().map(ApiKeyView::of).collect(),
        configured: app.api_keys.current().configured(),
    }))
}

/// Revokes a stored API key; requests with it get 401 from then on.
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys",
    params(("key_id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let existed = app.latch.revoke_api_key(&id).await?;
    reload(&app).await?;
    if !existed {
        return Err(Problem::not_found("API key"));
    }
    Ok(StatusCode::NO_CONTENT)
}
