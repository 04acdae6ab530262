//! Forward-auth: a reverse proxy (nginx `auth_request`, Traefik `ForwardAuth`, Caddy
//! `forward_auth`, Envoy `ext_authz`) asks Latch about each request before passing it on.
//!
//! The session comes from the session cookie or `Authorization: Bearer`. Active: 200 with the
//! identity headers, which the proxy copies onto the request it forwards. Not active: 401 (or,
//! for a browser with a login page configured, a redirect there). A required role missing:
//! 403. Store unreachable: 503, never 401, so an outage does not log anyone out.
//!
//! Nothing here trusts an `X-Latch-*` header a client sent: answers are built from the session
//! alone, and the proxy configurations in `docs/forward-auth.md` overwrite or strip those
//! headers on the way to the upstream.
//!
//! Two URL forms: `/v1/forward-auth?require_role=R` (the original URI comes from
//! `X-Forwarded-Uri` or `X-Original-URI`), and `/v1/forward-auth/<original path>` for proxies
//! that prefix the original path (Envoy's `path_prefix`), where the query string is the
//! original request's and roles come from the configured rules only.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use latch_core::Validation;
use latch_core::cookie::SessionCookie;
use latch_core::user::User;

use crate::AppState;
use crate::problem::Problem;

/// The user id, percent-encoded where it is not visible ASCII (and `%` itself).
pub const USER_HEADER: HeaderName = HeaderName::from_static("x-latch-user");
/// The user's roles, comma-separated (role names never hold commas).
pub const ROLES_HEADER: HeaderName = HeaderName::from_static("x-latch-roles");
/// The session id (never the token).
pub const SESSION_HEADER: HeaderName = HeaderName::from_static("x-latch-session");
/// A service token for the upstream when configured; empty otherwise.
pub const JWT_HEADER: HeaderName = HeaderName::from_static("x-latch-jwt");

/// How forward-auth decides, configured by the binary.
#[derive(Clone, Debug, Default)]
pub struct ForwardAuthConfig {
    /// Where the session cookie is read from.
    pub cookie: SessionCookie,
    /// Browsers without an active session are redirected here (with `rd=<original URL>`)
    /// instead of getting 401. For proxies that pass the answer to the client (Traefik,
    /// Caddy, Envoy); nginx handles its own redirect with `error_page 401`.
    pub login_url: Option<String>,
    /// Roles required by path prefix, on top of `require_role` in the query.
    pub rules: Vec<RoleRule>,
    /// Mint a service token for this audience into `X-Latch-Jwt` on every allowed request.
    pub service_token_audience: Option<String>,
}

/// Requests whose path is `path_prefix` or below it need every role in `roles`.
#[derive(Clone, Debug)]
pub struct RoleRule {
    /// A path such as `/admin` (matches `/admin` and `/admin/...`, not `/administrator`).
    pub path_prefix: String,
    /// Roles the user must all have.
    pub roles: Vec<String>,
}

/// Checks the session of a proxied request; the original URI comes from `X-Forwarded-Uri`
/// (Traefik, Caddy) or `X-Original-URI` (nginx).
#[utoipa::path(get, path = "/v1/forward-auth", tag = "forward-auth",
    params(("require_role" = Option<String>, Query, description = "A role the user must have; repeat for several")),
    responses(
        (status = 200, description = "Active; identity in X-Latch-User, X-Latch-Roles, X-Latch-Session (and X-Latch-Jwt when configured)"),
        (status = 302, description = "Not active, a browser, and a login page is configured"),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No active session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A required role is missing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn check(State(app): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let mut required = Vec::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if k != "require_role" {
            // Not echoed: whatever a client put in the query stays out of the answer.
            return Problem::bad_request(
                "unknown query parameter; forward-auth takes only require_role",
            )
            .into_response();
        }
        required.push(v.into_owned());
    }
    let original = ["x-forwarded-uri", "x-original-uri"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .unwrap_or("/");
    decide(&app, &headers, original, required).await
}

/// The same check for proxies that append the original path to the auth URL (Envoy
/// `ext_authz` with `path_prefix: /v1/forward-auth`); any method.
pub async fn check_prefixed(
    State(app): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut original = format!("/{rest}");
    if let Some(q) = uri.query() {
        let _ = write!(original, "?{q}");
    }
    decide(&app, &headers, &original, Vec::new()).await
}

async fn decide(
    app: &AppState,
    headers: &HeaderMap,
    original: &str,
    mut required: Vec<String>,
) -> Response {
    let fa = &app.forward_auth;
    let path = normalize_path(original);
    for rule in &fa.rules {
        if under(&path, &rule.path_prefix) {
            required.extend(rule.roles.iter().cloned());
        }
    }
    let Some(token) = session_token(headers, &fa.cookie) else {
        return refuse(fa, headers, original, "no session cookie or bearer token");
    };
    let active = match app.latch.validate(token).await {
        Ok(Validation::Active(a)) => a,
        Ok(Validation::Inactive(_)) => {
            return refuse(fa, headers, original, "the session is not active");
        }
        Err(e) => {
            outcome("unavailable");
            return Problem::from(e).into_response();
        }
    };
    let user = active.user();
    if let Some(missing) = required.iter().find(|r| !user.has_role(r)) {
        outcome("forbidden");
        tracing::info!(target: "latch::audit", event = "forward_auth.forbidden", session_id = %active.record().id, role = %missing, path = %path);
        return Problem::new(StatusCode::FORBIDDEN, "role-required", "Role required")
            .detail(format!("this needs the role {missing:?}"))
            .into_response();
    }
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    identity_headers(h, user, &active.record().id.to_string());
    // Always sent, empty when no audience is configured: proxies that copy headers from this
    // answer (Envoy, Caddy) then overwrite a client's own X-Latch-Jwt instead of passing it.
    let jwt = match &fa.service_token_audience {
        Some(aud) => match app.service.mint(&active, aud, app.latch.clock().now()) {
            Ok(m) => HeaderValue::from_str(&m.jwt).ok(),
            Err(e) => return super::service_tokens::mint_problem(e).into_response(),
        },
        None => None,
    };
    h.insert(JWT_HEADER, jwt.unwrap_or(HeaderValue::from_static("")));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    outcome("allowed");
    r
}

fn identity_headers(h: &mut HeaderMap, user: &User, session_id: &str) {
    if let Ok(v) = HeaderValue::from_str(&encode_user(user.id.as_str())) {
        h.insert(USER_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&user.roles.join(",")) {
        h.insert(ROLES_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(session_id) {
        h.insert(SESSION_HEADER, v);
    }
}

/// The session token: the session cookie if present, else `Authorization: Bearer`.
fn session_token<'h>(headers: &'h HeaderMap, cookie: &SessionCookie) -> Option<&'h str> {
    cookie.token_in(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

/// 401, or a redirect to the login page for a browser navigating.
fn refuse(fa: &ForwardAuthConfig, headers: &HeaderMap, original: &str, why: &str) -> Response {
    outcome("unauthenticated");
    let navigating = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let method = ["x-forwarded-method", "x-original-method"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .unwrap_or("GET");
    if let Some(login) = &fa.login_url
        && navigating
        && matches!(method, "GET" | "HEAD")
    {
        let mut to = login.clone();
        if let Some(back) = original_url(headers, original) {
            to.push(if login.contains('?') { '&' } else { '?' });
            to.push_str("rd=");
            to.extend(form_urlencoded::byte_serialize(back.as_bytes()));
        }
        if let Ok(v) = HeaderValue::from_str(&to) {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return r;
        }
    }
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "session-inactive",
        "Session not active",
    )
    .detail(format!("{why}: sign in again"))
    .into_response()
}

/// The URL the user asked for, from the proxy's `X-Forwarded-Proto` and `X-Forwarded-Host`.
fn original_url(headers: &HeaderMap, original: &str) -> Option<String> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let host = get("x-forwarded-host")?;
    let proto = get("x-forwarded-proto").unwrap_or("https");
    (matches!(proto, "http" | "https") && original.starts_with('/'))
        .then(|| format!("{proto}://{host}{original}"))
}

fn outcome(o: &'static str) {
    metrics::counter!("latch_forward_auth_requests_total", "outcome" => o).increment(1);
}

/// A user id as a header value: visible ASCII stays as it is, anything else (and `%`) is
/// percent-encoded as UTF-8, so `ada@example.com` is sent as is and `zoë` as `zo%C3%AB`.
pub fn encode_user(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The path of a request URI as an upstream would route it: query and fragment dropped,
/// percent-escapes decoded, repeated slashes collapsed, `.` and `..` segments resolved. Role
/// rules match this, so `/%61dmin`, `//admin` or `/x/../admin` cannot slip past `/admin`.
pub fn normalize_path(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let decoded: Vec<u8> = percent_decode(path.as_bytes());
    let decoded = String::from_utf8_lossy(&decoded);
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    out
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Whether normalized `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    let prefix = normalize_path(prefix);
    prefix == "/"
        || path == prefix
        || path
            .strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_before_rules_match() {
        for p in [
            "/admin",
            "/admin/",
            "/admin/users?x=1",
            "//admin",
            "/%61dmin/x",
            "/x/../admin",
            "/./admin",
            "/admin%2Fx",
            "\\admin",
            "/admin#frag",
        ] {
            assert!(under(&normalize_path(p), "/admin"), "{p}");
        }
        for p in [
            "/administrator",
            "/",
            "/x/admin",
            "/adm",
            "/..",
            "/x?/admin",
        ] {
            assert!(!under(&normalize_path(p), "/admin"), "{p}");
        }
        assert!(under(&normalize_path("/anything"), "/"));
        assert_eq!(normalize_path("/a/b/../../../../c"), "/c");
    }

    #[test]
    fn user_ids_become_safe_header_values() {
        assert_eq!(encode_user("ada@example.com"), "ada@example.com");
        assert_eq!(encode_user("zoë"), "zo%C3%AB");
        assert_eq!(encode_user("a b%\r\n"), "a%20b%25%0D%0A");
        assert!(HeaderValue::from_str(&encode_user("\u{0}\u{7f}ß")).is_ok());
    }
}
