//! Latch's HTTP API: the only crate that knows axum.
//!
//! The library takes ready-made resources: an engine, the API keys, a metrics handle, a bound
//! listener and a shutdown future. [`router`] builds the app (tests drive it with
//! `tower::ServiceExt::oneshot`); [`serve`] runs it until shutdown, finishing in-flight
//! requests.
//!
//! # Layout
//! - [`routes`]: one module per resource (`sessions`, `users`, `api_keys`, `ops`).
//! - [`views`]: the contract's JSON shapes.
//! - [`extract`]: body and path extraction that answers failures with problems.
//! - [`problem`]: RFC 9457 problem documents.
//! - [`auth`]: API-key checking for `/v1/`.
//! - [`maintenance`]: the sweeper and key reload loop.

#![forbid(unsafe_code)]

pub mod auth;
pub mod extract;
pub mod maintenance;
pub mod problem;
pub mod routes;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latch_core::Latch;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::auth::ApiKeys;
use crate::routes::{api_keys, one_time, ops, sessions, users};

/// The largest request body accepted; larger ones get 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The session engine.
    pub latch: Arc<Latch>,
    /// The API keys this node accepts.
    pub api_keys: ApiKeys,
    /// Renders `/metrics`; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// Failed one-time token consumes per API key.
    pub consume_limiter: Arc<one_time::ConsumeLimiter>,
}

impl AppState {
    /// The state of a node serving `latch` to holders of `api_keys`.
    pub fn new(latch: Arc<Latch>, api_keys: ApiKeys, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            latch,
            api_keys,
            metrics,
            consume_limiter: Arc::default(),
        }
    }
}

impl axum::extract::FromRef<AppState> for ApiKeys {
    fn from_ref(s: &AppState) -> Self {
        s.api_keys.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latch",
        description = "Sessions that are revoked at once, everywhere, and validated faster than a JWT."
    ),
    modifiers(&ApiKeyScheme)
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole HTTP app, and its OpenAPI document.
pub fn router_with_openapi(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .routes(routes!(sessions::create))
        .routes(routes!(sessions::validate))
        .routes(routes!(sessions::rotate))
        .routes(routes!(sessions::revoke))
        .routes(routes!(sessions::delete))
        .routes(routes!(users::put, users::get))
        .routes(routes!(users::sessions, users::revoke_all))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::delete))
        .routes(routes!(one_time::create))
        .routes(routes!(one_time::consume))
        .route_layer(axum::middleware::from_fn_with_state(
            state.api_keys.clone(),
            auth::require_api_key,
        ))
        .layer(axum::middleware::map_response(no_store));
    let ops = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics));
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1)
        .merge(ops)
        .split_for_parts();
    let doc: Arc<str> = Arc::from(api.to_json().unwrap_or_default());
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = Arc::clone(&doc);
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.to_string(),
                    )
                }
            }),
        )
        .fallback(|| async { problem::Problem::not_found("route") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    (router, api)
}

/// The whole HTTP app.
pub fn router(state: AppState) -> Router {
    router_with_openapi(state).0
}

/// Answers carrying session data or tokens must not be stored by any cache (OWASP; ASVS
/// 14.3.2): every `/v1/` answer gets `Cache-Control: no-store`.
async fn no_store(mut r: Response) -> impl IntoResponse {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
