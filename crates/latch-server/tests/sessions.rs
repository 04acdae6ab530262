//! `/v1/sessions` through the router: success and failure paths, and that a refused request
//! writes nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::{KEY, app};
use serde_json::json;

#[tokio::test]
async fn create_validate_revoke_validate() {
    let app = app();
    let a = app
        .post(
            "/v1/sessions",
            json!({"user_id": "alice", "device": {"user_agent": "curl/8", "ip": "203.0.113.9"}, "idle_timeout_s": 600}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let v = a.json();
    let token = v["token"].as_str().unwrap();
    assert!(token.starts_with("latch_s_") && token.len() < 100);
    let s = &v["session"];
    assert_eq!(s["user_id"], "alice");
    assert_eq!(s["id"].as_str().unwrap().len(), 36);
    assert_eq!(
        s["device"],
        json!({"user_agent": "curl/8", "ip": "203.0.113.9"})
    );
    for f in [
        "created_at",
        "last_seen_at",
        "idle_expires_at",
        "expires_at",
    ] {
        let t = s[f].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 20, "{f}: {t}");
    }
    let got = app.validate(token).await;
    assert_eq!(got["active"], true);
    assert_eq!(got["session"]["id"], s["id"]);
    assert_eq!(
        got["user"],
        json!({"id": "alice", "roles": [], "status": "active", "attributes": {}})
    );
    let r = app
        .post("/v1/sessions/revoke", json!({"token": token}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.validate(token).await, json!({"active": false}));
    // Logout is idempotent, and a garbage token is just inactive.
    let r = app
        .post("/v1/sessions/revoke", json!({"token": token}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .post("/v1/sessions/revoke", json!({"token": "nonsense"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.validate("nonsense").await, json!({"active": false}));
    assert_eq!(app.validate("").await, json!({"active": false}));
}

#[tokio::test]
async fn rotate_gives_a_new_token_and_kills_the_old() {
    let app = app();
    let (token, session) = app.create("bob").await;
    let r = app
        .post("/v1/sessions/rotate", json!({"token": token}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    let new = v["token"].as_str().unwrap();
    assert_ne!(new, token);
    assert_eq!(v["session"]["id"], session["id"]);
    assert_eq!(app.validate(&token).await, json!({"active": false}));
    assert_eq!(app.validate(new).await["active"], true);
    // The old token cannot rotate again.
    let r = app
        .post("/v1/sessions/rotate", json!({"token": token}))
        .await;
    let p = r.problem(401);
    assert_eq!(p["type"], "urn:latch:problem:session-inactive");
}

#[tokio::test]
async fn delete_by_id() {
    let app = app();
    let (token, session) = app.create("carol").await;
    let id = session["id"].as_str().unwrap();
    let uri = format!("/v1/sessions/{id}");
    let r = app.call(Method::DELETE, &uri, Some(KEY), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.validate(&token).await, json!({"active": false}));
    app.call(Method::DELETE, &uri, Some(KEY), None)
        .await
        .problem(404);
    app.call(Method::DELETE, "/v1/sessions/not-an-id", Some(KEY), None)
        .await
        .problem(422);
    app.call(
        Method::DELETE,
        &format!("/v1/sessions/{}", id.to_uppercase()),
        Some(KEY),
        None,
    )
    .await
    .problem(422);
}

#[tokio::test]
async fn blocked_user_gets_403_and_nothing_is_written() {
    let app = app();
    let r = app
        .call(
            Method::PUT,
            "/v1/users/mallory",
            Some(KEY),
            Some(r#"{"status":"blocked"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let p = app
        .post("/v1/sessions", json!({"user_id": "mallory"}))
        .await
        .problem(403);
    assert_eq!(p["type"], "urn:latch:problem:user-blocked");
    assert_eq!(app.session_count().await, 0);
}

#[tokio::test]
async fn bad_create_requests_are_refused_and_write_nothing() {
    let app = app();
    let long = "x".repeat(257);
    let cases: Vec<(String, u16)> = vec![
        (json!({"user_id": ""}).to_string(), 422),
        (json!({"user_id": long}).to_string(), 422),
        (json!({"user_id": 5}).to_string(), 422),
        (json!({}).to_string(), 422),
        (json!({"user_id": "u", "extra": 1}).to_string(), 422),
        (
            json!({"user_id": "u", "device": {"ip": "999.1.1.1"}}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "device": {"os": "x"}}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "device": {"user_agent": "a\nb"}}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "device": {"user_agent": "a".repeat(513)}}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "idle_timeout_s": 0}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "absolute_timeout_s": 0}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "idle_timeout_s": -5}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "idle_timeout_s": 1.5}).to_string(),
            422,
        ),
        (
            json!({"user_id": "u", "idle_timeout_s": "60"}).to_string(),
            422,
        ),
        ("{\"user_id\": ".to_owned(), 400),
        ("not json".to_owned(), 400),
        ("[]".to_owned(), 422),
    ];
    for (body, status) in cases {
        let r = app
            .call(Method::POST, "/v1/sessions", Some(KEY), Some(&body))
            .await;
        r.problem(status);
    }
    assert_eq!(app.session_count().await, 0);
    assert!(app.get("/v1/users/u").await.status == StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_content_type_and_oversized_bodies() {
    let app = app();
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/sessions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "text/plain")
        .body(axum::body::Body::from(r#"{"user_id":"u"}"#))
        .unwrap();
    let r = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = json!({"user_id": "u", "device": {"user_agent": "a".repeat(70_000)}}).to_string();
    let r = app
        .call(Method::POST, "/v1/sessions", Some(KEY), Some(&big))
        .await;
    r.problem(413);
    assert_eq!(app.session_count().await, 0);
}

#[tokio::test]
async fn timeouts_down_to_one_second_and_capped() {
    let app = app();
    let r = app
        .post(
            "/v1/sessions",
            json!({"user_id": "t", "idle_timeout_s": 1, "absolute_timeout_s": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .post("/v1/sessions", json!({"user_id": "t", "idle_timeout_s": u64::MAX, "absolute_timeout_s": 999_999_999_999u64}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let s = r.json()["session"].clone();
    // Capped at 30 days.
    let created = s["created_at"].as_str().unwrap();
    let expires = s["expires_at"].as_str().unwrap();
    assert_ne!(created, expires);
}

#[tokio::test]
async fn validate_answers_exactly_active_false_for_anything_inactive() {
    let app = app();
    let (token, _) = app.create("dave").await;
    for bad in [
        "".to_owned(),
        "latch_s_".to_owned(),
        format!("{token}x"),
        token[..token.len() - 1].to_owned(),
        {
            let last = if token.ends_with('A') { 'Q' } else { 'A' };
            format!("{}{last}", &token[..token.len() - 1])
        },
        "\u{0}\u{ffff}".to_owned(),
    ] {
        let r = app
            .post("/v1/sessions/validate", json!({"token": bad}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, br#"{"active":false}"#);
    }
    app.call(
        Method::POST,
        "/v1/sessions/validate",
        Some(KEY),
        Some(r#"{"token": 1}"#),
    )
    .await
    .problem(422);
    app.call(
        Method::POST,
        "/v1/sessions/validate",
        Some(KEY),
        Some(r#"{"tok": "x"}"#),
    )
    .await
    .problem(422);
}

#[tokio::test]
async fn parser_errors_do_not_echo_tokens() {
    let app = app();
    let (token, _) = app.create("erin").await;
    let body = format!(r#"{{"user_id": "u", "idle_timeout_s": "{token}"}}"#);
    let r = app
        .call(Method::POST, "/v1/sessions", Some(KEY), Some(&body))
        .await;
    r.problem(422);
    assert!(!String::from_utf8_lossy(&r.body).contains(&token[8..]));
    let body = format!(r#"{{"{token}": 1}}"#);
    let r = app
        .call(
            Method::POST,
            "/v1/sessions/validate",
            Some(KEY),
            Some(&body),
        )
        .await;
    r.problem(422);
    assert!(!String::from_utf8_lossy(&r.body).contains(&token[8..]));
}

/// The hot route's answer is serialized straight from the validation result; it must be the
/// very JSON of the documented `ValidationView`, device and attributes included.
#[tokio::test]
async fn the_validate_answer_is_exactly_the_documented_view() {
    let app = app();
    let r = app
        .post(
            "/v1/sessions",
            serde_json::json!({"user_id": "zoë \"q\"", "device": {"user_agent": "UA \"x\" <y>", "ip": "2001:db8::1"}}),
        )
        .await;
    let token = r.json()["token"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        "/v1/users/zo%C3%AB%20%22q%22",
        Some(KEY),
        Some(r#"{"roles":["a","b"],"attributes":{"plan":"pro","n":[1,2,{"x":null}]}}"#),
    )
    .await;
    let answer = app.validate(&token).await;
    let latch_core::Validation::Active(a) = app.state.latch.validate(&token).await.unwrap() else {
        panic!("inactive")
    };
    let view = latch_server::views::ValidationView {
        active: true,
        session: Some(latch_server::views::SessionView::of_active(&a)),
        user: Some(latch_server::views::UserView::of(a.user())),
    };
    assert_eq!(answer, serde_json::to_value(&view).unwrap());
    assert_eq!(
        answer["user"]["attributes"]["n"][2]["x"],
        serde_json::Value::Null
    );
    assert_eq!(answer["session"]["device"]["ip"], "2001:db8::1");
    let none = serde_json::to_value(latch_server::views::ValidationAnswer(None)).unwrap();
    assert_eq!(none, serde_json::json!({"active": false}));
}
