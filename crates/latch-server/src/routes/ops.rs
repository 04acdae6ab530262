//! Operations: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::problem::Problem;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers. 503 while it does not.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = String, content_type = "text/plain"),
        (status = 503, description = "Store unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(app): State<AppState>) -> Result<&'static str, Problem> {
    app.latch
        .store()
        .ping()
        .await
        .map_err(latch_core::Error::from)?;
    Ok("ready\n")
}

/// Prometheus metrics, names prefixed `latch_`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    if let Some(h) = &app.metrics {
        // Cheap for the embedded store (a table length); a self-expiring store would need a
        // scan, so its count is not exported.
        if !app.latch.store().expires_on_its_own()
            && let Ok(n) = app.latch.store().session_count().await
        {
            latch_core::metrics::set_active_sessions(n);
        }
        let mut r = (StatusCode::OK, h.render()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        return r;
    }
    Problem::not_found("metrics recorder (none installed)").into_response()
}
