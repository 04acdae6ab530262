//! Service tokens: `POST /v1/service-tokens` mints a short-lived EdDSA JWT from a live
//! session for one audience; `GET /.well-known/jwks.json` publishes every node's public keys;
//! `/v1/keys` lists and rotates this node's signing keys.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use latch_core::Validation;
use latch_core::service_token::{MintError, Rotation, valid_audience};

use crate::AppState;
use crate::auth::Caller;
use crate::extract::Body;
use crate::problem::Problem;
use crate::views::{
    KeyList, KeyView, MintServiceToken, RotateKeys, RotationView, ServiceTokenView,
};

/// Mints a service token for one audience from an active session.
#[utoipa::path(post, path = "/v1/service-tokens", tag = "service-tokens",
    request_body = MintServiceToken,
    responses(
        (status = 200, description = "The JWT", body = ServiceTokenView),
        (status = 401, description = "Session not active", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "This API key may not mint for this audience", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid audience", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn mint(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<MintServiceToken>,
) -> Result<Json<ServiceTokenView>, Problem> {
    if !valid_audience(&req.audience) {
        return Err(Problem::invalid(
            "audience must be 1 to 128 visible ASCII characters without commas",
        ));
    }
    if !app.service.allows(&caller.0, &req.audience) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "audience-not-allowed",
            "Audience not allowed",
        )
        .detail(
            "this API key may not mint service tokens for this audience; list it in \
             LATCH_SERVICE_AUDIENCES or service_tokens.audiences",
        ));
    }
    let Validation::Active(active) = app.latch.validate(&req.token).await? else {
        return Err(Problem::inactive_session());
    };
    let minted = app
        .service
        .mint(&active, &req.audience, app.latch.clock().now())
        .map_err(mint_problem)?;
    tracing::info!(target: "latch::audit", event = "service_token.minted", session_id = %active.record().id, audience = %req.audience);
    Ok(Json(ServiceTokenView {
        jwt: minted.jwt,
        expires_in: minted.expires_in,
    }))
}

pub(crate) fn mint_problem(e: MintError) -> Problem {
    tracing::error!(error = %e, "cannot mint a service token");
    Problem::internal().detail("no signing key is in force on this node; see `latch keys list`")
}

/// The public keys of every node, as a JWK Set (RFC 7517). No API key needed.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "service-tokens",
    responses(
        (status = 200, description = "The JWK Set", body = Object, content_type = "application/jwk-set+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn jwks(State(app): State<AppState>) -> Result<Response, Problem> {
    let doc = app
        .service
        .jwks(app.latch.store().as_ref(), app.latch.clock().now())
        .await
        .map_err(latch_core::Error::from)?;
    let mut r = (StatusCode::OK, doc.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    // New keys are published `publish_ahead` (10 minutes by default) before they sign, so a
    // minute of caching never hides a key in use.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(r)
}

/// Lists this node's signing keys and their schedule (never the private keys).
#[utoipa::path(get, path = "/v1/keys", tag = "service-tokens",
    responses((status = 200, description = "The keys", body = KeyList)),
    security(("api_key" = [])))]
pub async fn list_keys(State(app): State<AppState>) -> Json<KeyList> {
    let now = app.latch.clock().now();
    Json(KeyList {
        keys: app.service.list(now).iter().map(KeyView::of).collect(),
    })
}

/// Rotates this node's signing key: the new key is published now and signs after the
/// publish-ahead time, or at once with `immediately` (withdrawing every other key).
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "service-tokens",
    request_body = RotateKeys,
    responses(
        (status = 200, description = "Rotated", body = RotationView),
        (status = 503, description = "The keyring could not be saved or published", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn rotate_keys(
    State(app): State<AppState>,
    Body(req): Body<RotateKeys>,
) -> Result<Json<RotationView>, Problem> {
    let now = app.latch.clock().now();
    let r = app
        .service
        .rotate(app.latch.store().as_ref(), now, req.immediately)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "key rotation failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "rotation-failed",
                "Rotation failed",
            )
            .detail(format!("{e}; retry"))
        })?;
    let (kid, signs_from, already_pending) = match r {
        Rotation::Scheduled { kid, signs_from } => (kid, signs_from, false),
        Rotation::AlreadyPending { kid, signs_from } => (kid, signs_from, true),
    };
    Ok(Json(RotationView {
        kid,
        signs_from: signs_from.to_rfc3339(),
        already_pending,
    }))
}
