//! API-key checks on every `/v1/` route, API key management, health, readiness, metrics, the
//! OpenAPI document, and "store unreachable means 503, never inactive".

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{KEY, Unreachable, app, app_with};
use latch_core::user::UserId;
use serde_json::json;

const SID: &str = "00112233445566778899aabbccddeeff0011";

fn v1_routes() -> Vec<(Method, String, Option<&'static str>)> {
    vec![
        (
            Method::POST,
            "/v1/sessions".into(),
            Some(r#"{"user_id":"u"}"#),
        ),
        (
            Method::POST,
            "/v1/sessions/validate".into(),
            Some(r#"{"token":"x"}"#),
        ),
        (
            Method::POST,
            "/v1/sessions/rotate".into(),
            Some(r#"{"token":"x"}"#),
        ),
        (
            Method::POST,
            "/v1/sessions/revoke".into(),
            Some(r#"{"token":"x"}"#),
        ),
        (Method::DELETE, format!("/v1/sessions/{SID}"), None),
        (Method::GET, "/v1/users/u/sessions".into(), None),
        (Method::DELETE, "/v1/users/u/sessions".into(), None),
        (
            Method::PUT,
            "/v1/users/u".into(),
            Some(r#"{"status":"blocked"}"#),
        ),
        (Method::GET, "/v1/users/u".into(), None),
        (Method::POST, "/v1/api-keys".into(), Some(r#"{"name":"x"}"#)),
        (Method::GET, "/v1/api-keys".into(), None),
        (Method::DELETE, "/v1/api-keys/abc".into(), None),
        (
            Method::POST,
            "/v1/one-time-tokens".into(),
            Some(r#"{"user_id":"u","purpose":"p"}"#),
        ),
        (
            Method::POST,
            "/v1/one-time-tokens/consume".into(),
            Some(r#"{"token":"x","purpose":"p"}"#),
        ),
        (
            Method::POST,
            "/v1/service-tokens".into(),
            Some(r#"{"token":"x","audience":"a"}"#),
        ),
        (Method::GET, "/v1/keys".into(), None),
        (Method::POST, "/v1/keys/rotate".into(), Some("{}")),
    ]
}

#[tokio::test]
async fn every_v1_route_needs_a_valid_api_key() {
    let app = app();
    let wrong = "wrong-key-but-long-enough-0123456789abcdef";
    for (m, uri, body) in v1_routes() {
        for key in [None, Some(wrong), Some(""), Some(&KEY[..KEY.len() - 1])] {
            let r = app.call(m.clone(), &uri, key, body).await;
            let p = r.problem(401);
            assert_eq!(p["type"], "urn:latch:problem:unauthorized", "{m} {uri}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
    }
    // Nothing was written by any of those.
    assert_eq!(app.session_count().await, 0);
    assert!(
        app.state
            .latch
            .user(&UserId::new("u").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // A Basic header is not a Bearer key.
    let r = app.router.clone();
    let req = axum::http::Request::builder()
        .uri("/v1/users/u")
        .header("authorization", format!("Basic {KEY}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(r, req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked() {
    let app = app();
    let r = app.post("/v1/api-keys", json!({"name": "billing"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    let key = v["key"].as_str().unwrap().to_owned();
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("latch_k_") && key.len() >= 32);
    // The new key works at once.
    let r = app
        .call(Method::GET, "/v1/api-keys", Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list["configured"], 2);
    assert_eq!(list["api_keys"][0]["id"], id.as_str());
    assert!(
        !r.body.windows(key.len()).any(|w| w == key.as_bytes()),
        "keys are never listed"
    );
    app.post("/v1/api-keys", json!({"name": ""}))
        .await
        .problem(422);
    app.post("/v1/api-keys", json!({"name": "x", "scope": "all"}))
        .await
        .problem(422);
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            Some(KEY),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.call(Method::GET, "/v1/api-keys", Some(&key), None)
        .await
        .problem(401);
    app.call(
        Method::DELETE,
        &format!("/v1/api-keys/{id}"),
        Some(KEY),
        None,
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn health_readiness_metrics_need_no_key() {
    let app = app();
    let (token, _) = app.create("m").await;
    app.validate(&token).await;
    app.validate("nope").await;
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::OK
    );
    let m = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(m.status, StatusCode::OK);
    let text = String::from_utf8(m.body).unwrap();
    for name in [
        "latch_validations_total{outcome=\"active\"}",
        "latch_validations_total{outcome=\"malformed\"}",
        "latch_active_sessions",
        "latch_cache_lookups_total",
        "latch_store_operations_total{op=\"create_session\",result=\"ok\"}",
        "latch_store_operation_duration_seconds",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            line.starts_with("latch_"),
            "metric without the latch_ prefix: {line}"
        );
    }
    assert!(!text.contains(&token[8..]));
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let app = app();
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for m in ["get", "put", "post", "delete"] {
            if item.get(m).is_some() {
                documented.push((m.to_uppercase(), path.clone()));
            }
        }
    }
    // Every contract route is documented...
    let mut expected: Vec<(String, String)> = v1_routes()
        .into_iter()
        .map(|(m, uri, _)| {
            let templ = uri
                .replace(SID, "{session_id}")
                .replace("/users/u", "/users/{user_id}")
                .replace("/api-keys/abc", "/api-keys/{key_id}");
            (m.to_string(), templ)
        })
        .collect();
    // ...and the routes without an API key: operations, the JWK Set, forward-auth.
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/jwks.json",
        "/v1/forward-auth",
    ] {
        expected.push(("GET".into(), p.into()));
    }
    expected.sort();
    documented.sort();
    assert_eq!(documented, expected);
    // ...and every documented operation is served (not 404/405) by the router.
    for (m, path) in &documented {
        let uri = path
            .replace("{session_id}", SID)
            .replace("{user_id}", "u")
            .replace("{key_id}", "abc");
        let method: Method = m.parse().unwrap();
        let body = matches!(method, Method::POST | Method::PUT).then_some("{}");
        let r = app.call(method, &uri, Some(KEY), body).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
        let unknown_route =
            r.status == StatusCode::NOT_FOUND && r.json()["detail"] == "no such route";
        assert!(!unknown_route, "{m} {path} is documented but not routed");
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    let unknown = app.call(Method::GET, "/v2/nothing", None, None).await;
    unknown.problem(404);
}

#[tokio::test]
async fn upkeep_sweeps_expired_sessions() {
    let clock = latch_core::time::ManualClock::starting_now();
    let app = common::app_with_clock(
        Arc::new(latch_store_memory::MemoryStore::new()),
        Arc::new(clock.clone()),
    );
    let r = app
        .post(
            "/v1/sessions",
            json!({"user_id": "sweep", "idle_timeout_s": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.create("sweep").await;
    assert_eq!(app.session_count().await, 2);
    clock.advance(std::time::Duration::from_secs(2));
    latch_server::maintenance::run_once(&app.state).await;
    assert_eq!(app.session_count().await, 1);
    let list = app.get("/v1/users/sweep/sessions").await.json();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_store_is_503_never_inactive() {
    let healthy = app();
    let (token, _) = healthy.create("n").await;
    // The same key on a node whose store is down: the token is well-formed and correctly
    // tagged, so only the store could say whether it is revoked.
    let app = app_with(Arc::new(Unreachable));
    let r = app
        .post("/v1/sessions/validate", json!({"token": token}))
        .await;
    let p = r.problem(503);
    assert_eq!(p["type"], "urn:latch:problem:store-unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    app.post("/v1/sessions", json!({"user_id": "n"}))
        .await
        .problem(503);
    app.post("/v1/sessions/revoke", json!({"token": token}))
        .await
        .problem(503);
    app.get("/v1/users/n").await.problem(503);
    app.call(Method::GET, "/readyz", None, None)
        .await
        .problem(503);
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK
    );
    // A forged token needs no store to be refused.
    assert_eq!(app.validate("latch_s_x").await, json!({"active": false}));
}
