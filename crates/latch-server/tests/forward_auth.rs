//! Forward-auth through `oneshot`: sessions from the cookie or a bearer token, identity
//! headers, roles by query and by path rule, browser redirects, Envoy's prefixed form, and
//! "unavailable, never unauthenticated" when the store is down.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{Answer, App, Unreachable, app, app_with};
use latch_core::service_token::{Ephemeral, Keyring, ServiceTokenPolicy, ServiceTokens};
use latch_server::{ForwardAuthConfig, RoleRule};
use serde_json::json;

/// A request to forward-auth with the given headers; no API key.
async fn ask(app: &App, method: Method, uri: &str, headers: &[(&str, &str)]) -> Answer {
    app.request(method, uri, headers, None).await
}

async fn get(app: &App, uri: &str, headers: &[(&str, &str)]) -> Answer {
    ask(app, Method::GET, uri, headers).await
}

fn cookie(token: &str) -> String {
    format!("theme=dark; __Host-latch={token}")
}

fn admin_rule() -> ForwardAuthConfig {
    ForwardAuthConfig {
        rules: vec![RoleRule {
            path_prefix: "/admin".into(),
            roles: vec!["admin".into()],
        }],
        ..ForwardAuthConfig::default()
    }
}

#[tokio::test]
async fn an_active_session_gets_identity_headers_from_cookie_or_bearer() {
    let app = app();
    let (token, session) = app.create("ada@example.com").await;
    app.set_roles("ada@example.com", &["admin", "ops"]).await;
    for h in [
        ("cookie", cookie(&token)),
        ("authorization", format!("Bearer {token}")),
    ] {
        let r = get(&app, "/v1/forward-auth", &[(h.0, &h.1)]).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("x-latch-user"), Some("ada@example.com"));
        assert_eq!(r.header("x-latch-roles"), Some("admin,ops"));
        assert_eq!(r.header("x-latch-session"), session["id"].as_str());
        assert_eq!(r.header("x-latch-jwt"), Some(""));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(r.body.is_empty());
    }
}

#[tokio::test]
async fn no_or_dead_sessions_get_401_and_no_identity() {
    let app = app();
    for headers in [
        vec![],
        vec![("cookie", "__Host-latch=".to_owned())],
        vec![("cookie", "other=latch_s_x".to_owned())],
        vec![("cookie", cookie("latch_s_forged"))],
        vec![("authorization", "Basic YWRhOnB3".to_owned())],
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = get(&app, "/v1/forward-auth", &h).await;
        let p = r.problem(401);
        assert_eq!(p["type"], "urn:latch:problem:session-inactive");
        assert_eq!(r.header("x-latch-user"), None);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // Revoked, and blocked: refused on the very next request.
    let (token, _) = app.create("bo").await;
    let c = cookie(&token);
    assert_eq!(
        get(&app, "/v1/forward-auth", &[("cookie", &c)])
            .await
            .status,
        StatusCode::OK
    );
    app.post("/v1/sessions/revoke", json!({"token": token}))
        .await;
    get(&app, "/v1/forward-auth", &[("cookie", &c)])
        .await
        .problem(401);
    let (token, _) = app.create("cy").await;
    let c = cookie(&token);
    app.call(
        Method::PUT,
        "/v1/users/cy",
        Some(common::KEY),
        Some(r#"{"status":"blocked"}"#),
    )
    .await;
    get(&app, "/v1/forward-auth", &[("cookie", &c)])
        .await
        .problem(401);
}

#[tokio::test]
async fn client_sent_identity_headers_are_ignored() {
    let app = app();
    let (token, _) = app.create("di").await;
    let c = cookie(&token);
    let r = get(
        &app,
        "/v1/forward-auth",
        &[
            ("cookie", &c),
            ("x-latch-user", "root"),
            ("x-latch-roles", "admin"),
            ("x-latch-session", "00"),
            ("x-latch-jwt", "forged"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-latch-jwt"), Some(""));
    assert_eq!(r.header("x-latch-user"), Some("di"));
    assert_eq!(r.header("x-latch-roles"), Some(""));
    // And a role claimed by a header grants nothing.
    let r = get(
        &app,
        "/v1/forward-auth?require_role=admin",
        &[("cookie", &c), ("x-latch-roles", "admin")],
    )
    .await;
    r.problem(403);
}

#[tokio::test]
async fn roles_are_required_by_query_and_by_path_rule() {
    let app = app().configure(|s| s.with_forward_auth(admin_rule()));
    let (token, _) = app.create("ed").await;
    let c = cookie(&token);
    let with = |uri: &'static str| [("cookie", c.clone()), ("x-forwarded-uri", uri.to_owned())];
    let call = |h: [(&'static str, String); 2], q: &'static str| {
        let app = &app;
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            get(app, q, &h).await
        }
    };
    assert_eq!(
        call(with("/"), "/v1/forward-auth").await.status,
        StatusCode::OK
    );
    let p = call(with("/x"), "/v1/forward-auth?require_role=ops")
        .await
        .problem(403);
    assert_eq!(p["type"], "urn:latch:problem:role-required");
    // Tricks that an upstream would route to /admin are normalized first.
    for uri in [
        "/admin",
        "/admin/users?x=1",
        "//admin",
        "/%61dmin",
        "/x/../admin",
    ] {
        call(with(uri), "/v1/forward-auth").await.problem(403);
    }
    assert_eq!(
        call(with("/administrator"), "/v1/forward-auth")
            .await
            .status,
        StatusCode::OK
    );
    // nginx's header works the same.
    let h = [("cookie", c.as_str()), ("x-original-uri", "/admin/x")];
    get(&app, "/v1/forward-auth", &h).await.problem(403);
    app.set_roles("ed", &["admin", "ops"]).await;
    assert_eq!(
        call(with("/admin"), "/v1/forward-auth?require_role=ops")
            .await
            .status,
        StatusCode::OK
    );
    // Every required role is needed.
    call(
        with("/admin"),
        "/v1/forward-auth?require_role=ops&require_role=root",
    )
    .await
    .problem(403);
    // Our query takes nothing else.
    call(with("/"), "/v1/forward-auth?role=admin")
        .await
        .problem(400);
}

#[tokio::test]
async fn browsers_are_sent_to_the_login_page_when_one_is_configured() {
    let cfg = ForwardAuthConfig {
        login_url: Some("https://login.example/signin".into()),
        ..ForwardAuthConfig::default()
    };
    let app = app().configure(|s| s.with_forward_auth(cfg));
    let browser = [
        ("accept", "text/html,application/xhtml+xml"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example"),
        ("x-forwarded-uri", "/docs?page=2"),
    ];
    let r = get(&app, "/v1/forward-auth", &browser).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.header("location"),
        Some("https://login.example/signin?rd=https%3A%2F%2Fapp.example%2Fdocs%3Fpage%3D2")
    );
    // An API client, or a browser's POST, gets the 401.
    get(&app, "/v1/forward-auth", &browser[1..])
        .await
        .problem(401);
    let mut post = browser.to_vec();
    post.push(("x-forwarded-method", "POST"));
    get(&app, "/v1/forward-auth", &post).await.problem(401);
}

#[tokio::test]
async fn envoy_prefixed_paths_take_any_method_and_use_path_rules() {
    let app = app().configure(|s| s.with_forward_auth(admin_rule()));
    let (token, _) = app.create("fa").await;
    let c = cookie(&token);
    for m in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let r = ask(
            &app,
            m.clone(),
            "/v1/forward-auth/api/items?require_role=root",
            &[("cookie", &c)],
        )
        .await;
        // The query belongs to the original request: it requires nothing here.
        assert_eq!(r.status, StatusCode::OK, "{m}");
        assert_eq!(r.header("x-latch-user"), Some("fa"));
        ask(&app, m, "/v1/forward-auth/admin/x", &[("cookie", &c)])
            .await
            .problem(403);
    }
    ask(&app, Method::GET, "/v1/forward-auth/api", &[])
        .await
        .problem(401);
}

#[tokio::test]
async fn a_service_token_for_the_upstream_when_configured() {
    let app = app();
    let now = app.state.latch.clock().now();
    let mut p = ServiceTokenPolicy::default();
    p.audiences.insert("upstream".into());
    let service = Arc::new(ServiceTokens::new(
        p,
        Keyring::first(now).unwrap(),
        Arc::new(Ephemeral),
    ));
    let cfg = ForwardAuthConfig {
        service_token_audience: Some("upstream".into()),
        ..ForwardAuthConfig::default()
    };
    let app = app.configure(|s| {
        s.with_service_tokens(service.clone())
            .with_forward_auth(cfg)
    });
    let (token, _) = app.create("zoë").await;
    let r = get(&app, "/v1/forward-auth", &[("cookie", &cookie(&token))]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-latch-user"), Some("zo%C3%AB"));
    let keys =
        latch_verify::KeySet::from_keys(service.keyring().keys().iter().map(|k| k.verifying_key()));
    let claims = latch_verify::Verifier::new(keys, "latch", "upstream")
        .verify(r.header("x-latch-jwt").unwrap(), now.as_millis() / 1000)
        .unwrap();
    assert_eq!(claims.sub, "zoë");
}

#[tokio::test]
async fn an_unreachable_store_is_503_never_401() {
    let healthy = app();
    let (token, _) = healthy.create("gu").await;
    let app = app_with(Arc::new(Unreachable));
    let r = get(&app, "/v1/forward-auth", &[("cookie", &cookie(&token))]).await;
    let p = r.problem(503);
    assert_eq!(p["type"], "urn:latch:problem:store-unavailable");
    assert_eq!(r.header("x-latch-user"), None);
}
