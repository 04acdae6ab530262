//! `/v1/one-time-tokens`: single-use tokens for password resets, email verification, magic
//! links. Failed consumes are limited per API key.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use latch_core::one_time::Purpose;
use latch_core::user::UserId;

use crate::AppState;
use crate::auth::Caller;
use crate::extract::Body;
use crate::problem::Problem;
use crate::views::{ConsumeOneTime, ConsumedView, CreateOneTime, OneTimeView};

/// The window over which failed consumes are counted, per API key.
pub const FAILURE_WINDOW_MS: u64 = 10_000;
/// Failed consumes allowed per API key and window; more get 429 until the window ends.
pub const MAX_FAILURES: u32 = 20;

/// Counts failed consumes per API key.
#[derive(Debug, Default)]
pub struct ConsumeLimiter {
    windows: Mutex<HashMap<String, (u64, u32)>>,
}

impl ConsumeLimiter {
    /// Milliseconds until `caller` may try again, if it is over the limit.
    fn blocked(&self, caller: &str, now: u64) -> Option<u64> {
        let w = self.windows.lock().ok()?;
        let (start, n) = *w.get(caller)?;
        let ends = start.saturating_add(FAILURE_WINDOW_MS);
        (n >= MAX_FAILURES && now < ends).then(|| ends - now)
    }

    fn failed(&self, caller: &str, now: u64) {
        let Ok(mut w) = self.windows.lock() else {
            return;
        };
        let e = w.entry(caller.to_owned()).or_insert((now, 0));
        if now.saturating_sub(e.0) >= FAILURE_WINDOW_MS {
            *e = (now, 0);
        }
        e.1 += 1;
    }
}

/// Creates a one-time token for a user.
#[utoipa::path(post, path = "/v1/one-time-tokens", tag = "one-time-tokens",
    request_body = CreateOneTime,
    responses(
        (status = 201, description = "The token, shown once", body = OneTimeView),
        (status = 422, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn create(
    State(app): State<AppState>,
    Body(req): Body<CreateOneTime>,
) -> Result<impl IntoResponse, Problem> {
    let user = UserId::new(&req.user_id).map_err(|e| Problem::invalid(e.to_string()))?;
    let purpose = Purpose::new(&req.purpose).map_err(|e| Problem::invalid(e.to_string()))?;
    let new = app.latch.create_one_time(user, purpose, req.ttl_s).await?;
    Ok((
        StatusCode::CREATED,
        Json(OneTimeView {
            expires_at: new.record.expires_at.to_rfc3339(),
            token: new.token,
        }),
    ))
}

/// Uses a one-time token up: its user, once. A used, expired, unknown or wrong-purpose token
/// gets the same 400 problem.
#[utoipa::path(post, path = "/v1/one-time-tokens/consume", tag = "one-time-tokens",
    request_body = ConsumeOneTime,
    responses(
        (status = 200, description = "The token's user", body = ConsumedView),
        (status = 400, description = "Invalid one-time token (whatever the reason)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts with this API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub async fn consume(
    State(app): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(req): Body<ConsumeOneTime>,
) -> Result<Response, Problem> {
    let now = app.latch.clock().now().as_millis();
    if let Some(wait_ms) = app.consume_limiter.blocked(&caller.0, now) {
        let mut r = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-attempts",
            "Too many failed attempts",
        )
        .detail("too many failed one-time token attempts with this API key; retry later")
        .into_response();
        let secs = wait_ms.div_ceil(1000).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let purpose = Purpose::new(&req.purpose).map_err(|e| Problem::invalid(e.to_string()))?;
    match app.latch.consume_one_time(&req.token, &purpose).await? {
        Some(user) => Ok(Json(ConsumedView {
            user_id: user.as_str().to_owned(),
            purpose: purpose.as_str().to_owned(),
        })
        .into_response()),
        None => {
            app.consume_limiter.failed(&caller.0, now);
            Err(Problem::bad_request(
                "the token is unknown, already used, expired, or for another purpose",
            )
            .kind("one-time-token-invalid", "Invalid one-time token"))
        }
    }
}
