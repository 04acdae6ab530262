//! `/v1/api-keys`: manage the keys applications use. Keys are shown once, at creation; only
//! their hashes are kept.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::Body;
use crate::problem::Problem;

/// `POST /v1/api-keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label, 1 to 64 characters (who uses the key).
    pub name: String,
}

/// A stored API key, without the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Id to revoke it by.
    pub id: String,
    /// Label.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A new key: the only time the key text is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiKeyView {
    /// Id to revoke it by.
    pub id: String,
    /// Label.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The key. Store it now: it cannot be shown again.
    pub key: String,
}

/// The stored keys and how many come from configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Keys created through the API or the CLI.
    pub api_keys: Vec<ApiKeyView>,
    /// Keys from `LATCH_API_KEYS` or the config file (not listed).
    pub configured: usize,
}

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
    let now = app.latch.clock().now();
    let new = latch_core::api_key::generate(name, now).map_err(|_| Problem::internal())?;
    app.latch
        .store()
        .insert_api_key(new.record.clone())
        .await
        .map_err(latch_core::Error::from)?;
    app.api_keys
        .reload(app.latch.store().as_ref())
        .await
        .map_err(latch_core::Error::from)?;
    tracing::info!(target: "latch::audit", event = "api_key.created", key_id = %new.record.id, name = ?name);
    Ok((
        StatusCode::CREATED,
        Json(NewApiKeyView {
            id: new.record.id,
            name: new.record.name,
            created_at: new.record.created_at.to_rfc3339(),
            key: new.key.0,
        }),
    ))
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
        api_keys: keys
            .into_iter()
            .map(|k| ApiKeyView {
                id: k.id,
                name: k.name,
                created_at: k.created_at.to_rfc3339(),
            })
            .collect(),
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
    let existed = app
        .latch
        .store()
        .delete_api_key(&id)
        .await
        .map_err(latch_core::Error::from)?;
    app.api_keys
        .reload(app.latch.store().as_ref())
        .await
        .map_err(latch_core::Error::from)?;
    if !existed {
        return Err(Problem::not_found("API key"));
    }
    tracing::info!(target: "latch::audit", event = "api_key.revoked", key_id = ?id);
    Ok(StatusCode::NO_CONTENT)
}
