//! The demo app's routes: a login form, the signed-in user's devices with a button to sign
//! each out, and sign-out. Everything session-related goes through `latch-axum`.
//!
//! Forms are protected against cross-site submission twice: the session cookie is
//! `SameSite=Lax` (a cross-site POST does not carry it) and every POST must come from this
//! origin (`Sec-Fetch-Site` or `Origin`, ASVS 5.0 3.5.x).

#![forbid(unsafe_code)]

use std::net::IpAddr;

use axum::extract::{ConnectInfo, Path};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use latch_axum::{Session, Sessions};
use latch_core::session::Device;
use latch_core::token::SessionId;
use latch_core::user::UserId;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The demo's users and their passwords. A real app checks credentials its own way (a password
/// hash, an identity provider) and then asks Latch for a session.
pub const USERS: [(&str, &str); 2] = [("ada", "lovelace"), ("grace", "hopper")];

/// The app, to be wrapped in a `LatchLayer`.
pub fn app() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/sessions/{id}/revoke", post(revoke))
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn home(session: Option<Session>, sessions: Sessions) -> Response {
    let Some(s) = session else {
        return page("Sign in", LOGIN_FORM).into_response();
    };
    let Ok(list) = sessions.latch().user_sessions(&s.user().id).await else {
        return unavailable();
    };
    let mut rows = String::new();
    for d in &list {
        let this = if d.id == s.record().id {
            "<strong>this device</strong>".to_owned()
        } else {
            format!(
                "<form method=post action=\"/sessions/{}/revoke\"><button>Sign out this device</button></form>",
                d.id
            )
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{this}</td></tr>",
            escape(d.device.user_agent.as_deref().unwrap_or("unknown")),
            d.device.ip.map(|i| i.to_string()).unwrap_or_default(),
            d.created_at,
            d.last_seen_at,
        ));
    }
    let body = format!(
        "<p>Signed in as <strong>{}</strong>.</p>\
         <h2>Your devices</h2><table><tr><th>Device</th><th>IP</th><th>Signed in</th><th>Last seen</th><th></th></tr>{rows}</table>\
         <form method=post action=/logout><button>Sign out</button></form>",
        escape(s.user().id.as_str())
    );
    page("Your sessions", &body).into_response()
}

async fn login(
    sessions: Sessions,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    if !check_password(&f.username, &f.password) {
        let body = format!("<p class=error>Wrong username or password.</p>{LOGIN_FORM}");
        return (StatusCode::UNAUTHORIZED, page("Sign in", &body)).into_response();
    }
    let (Ok(user), Ok(device)) = (
        UserId::new(&f.username),
        Device::new(user_agent(&headers), Some(client_ip(&headers, peer.ip()))),
    ) else {
        return (StatusCode::BAD_REQUEST, "bad request").into_response();
    };
    match sessions.sign_in(user, device).await {
        Ok((_, cookie)) => (cookie, Redirect::to("/")).into_response(),
        Err(latch_core::Error::UserBlocked) => forbidden(),
        Err(_) => unavailable(),
    }
}

async fn logout(sessions: Sessions, session: Session, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    match sessions.sign_out(&session).await {
        Ok(clear) => (clear, Redirect::to("/")).into_response(),
        Err(_) => unavailable(),
    }
}

async fn revoke(
    sessions: Sessions,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let Ok(id) = id.parse::<SessionId>() else {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    };
    match sessions.revoke_own(&session, &id).await {
        Ok(true) => Redirect::to("/").into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "no such session").into_response(),
        Err(_) => unavailable(),
    }
}

fn check_password(user: &str, password: &str) -> bool {
    // Compare every entry in constant time, so timing tells neither the user nor the password.
    let mut ok = subtle::Choice::from(0);
    for (u, p) in USERS {
        let both = u.as_bytes().ct_eq(user.as_bytes()) & p.as_bytes().ct_eq(password.as_bytes());
        ok |= both;
    }
    ok.into()
}

/// A POST from this site's own pages: `Sec-Fetch-Site: same-origin`, or (older browsers) an
/// `Origin` whose host is this `Host`.
fn same_origin(h: &HeaderMap) -> bool {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return site == "same-origin";
    }
    match (get("origin"), get("host")) {
        (Some(o), Some(host)) => o.split_once("://").is_some_and(|(_, rest)| rest == host),
        _ => false,
    }
}

fn user_agent(h: &HeaderMap) -> Option<String> {
    h.get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect())
}

/// The peer's address (behind a proxy, configure it to pass the client's and read that).
fn client_ip(_h: &HeaderMap, peer: IpAddr) -> IpAddr {
    peer
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            "Unavailable",
            "<p>Sessions are unavailable for a moment. Retry shortly.</p>",
        ),
    )
        .into_response()
}

const LOGIN_FORM: &str = "<form method=post action=/login>\
    <label>Username <input name=username autocomplete=username></label> \
    <label>Password <input name=password type=password autocomplete=current-password></label> \
    <button>Sign in</button></form><p>Demo users: ada / lovelace, grace / hopper.</p>";

fn page(title: &str, body: &str) -> impl IntoResponse + use<> {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        Html(format!(
            "<!doctype html><html><head><meta charset=utf-8><title>{title}</title>\
             <style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}td,th{{padding:.3em .8em;text-align:left}}</style>\
             </head><body><h1>{title}</h1>{body}</body></html>"
        )),
    )
}

/// HTML-escapes text from users (ids, user agents).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
