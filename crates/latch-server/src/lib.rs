//! Latch's HTTP API: the only crate that knows axum.
//!
//! The library takes ready-made resources: an engine, the API keys, a metrics handle, a bound
//! listener and a shutdown future. [`router`] builds the app (tests drive it with
//! `tower::ServiceExt::oneshot`); [`serve`] runs it until shutdown, finishing in-flight
//! requests.
//!
//! # Layout
//! - [`routes`]: one module per resource (`sessions`, `users`, `api_keys`, `one_time`,
//!   `service_tokens`, `forward_auth`, `ops`).
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
use latch_core::service_token::ServiceTokens;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::auth::ApiKeys;
pub use crate::routes::forward_auth::{ForwardAuthConfig, RoleRule};
use crate::routes::{api_keys, forward_auth, one_time, ops, service_tokens, sessions, users};

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
    /// Service-token minting and this node's signing keys.
    pub service: Arc<ServiceTokens>,
    /// How forward-auth reads sessions and which roles paths need.
    pub forward_auth: Arc<ForwardAuthConfig>,
}

impl AppState {
    /// The state of a node serving `latch` to holders of `api_keys`.
    pub fn new(latch: Arc<Latch>, api_keys: ApiKeys, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            latch,
            api_keys,
            metrics,
            consume_limiter: Arc::default(),
            service: Arc::new(ServiceTokens::disabled()),
            forward_auth: Arc::default(),
        }
    }

    /// Mints service tokens with `service` (default: minting off, no keys).
    #[must_use]
    pub fn with_service_tokens(mut self, service: Arc<ServiceTokens>) -> Self {
        self.service = service;
        self
    }

    /// Answers forward-auth as `config` says (default: the `__Host-latch` cookie, no rules,
    /// no login redirect).
    #[must_use]
    pub fn with_forward_auth(mut self, config: ForwardAuthConfig) -> Self {
        self.forward_auth = Arc::new(config);
        self
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
    paths(forward_auth::check),
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
        .routes(routes!(service_tokens::mint))
        .routes(routes!(service_tokens::list_keys))
        .routes(routes!(service_tokens::rotate_keys))
        .route_layer(axum::middleware::from_fn_with_state(
            state.api_keys.clone(),
            auth::require_api_key,
        ))
        .layer(axum::middleware::map_response(no_store));
    let ops = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(service_tokens::jwks));
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
        .merge(forward_auth_routes())
        .fallback(|| async { problem::Problem::not_found("route") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    (router, api)
}

/// Forward-auth answers any method (proxies send the original one) and needs no API key.
fn forward_auth_routes() -> Router<AppState> {
    use axum::routing::any;
    Router::new()
        .route("/v1/forward-auth", any(forward_auth::check))
        .route(
            "/v1/forward-auth/{*rest}",
            any(forward_auth::check_prefixed),
        )
        .layer(axum::middleware::map_response(no_store))
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
