//! `/v1/one-time-tokens` through the router.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::{app, app_with_clock};
use latch_core::time::{ManualClock, Timestamp};
use serde_json::{Value, json};

async fn issue(app: &common::App, user: &str, purpose: &str) -> Value {
    let r = app
        .post(
            "/v1/one-time-tokens",
            json!({"user_id": user, "purpose": purpose}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

async fn consume(app: &common::App, token: &str, purpose: &str) -> common::Answer {
    app.post(
        "/v1/one-time-tokens/consume",
        json!({"token": token, "purpose": purpose}),
    )
    .await
}

#[tokio::test]
async fn a_token_is_consumed_exactly_once() {
    let app = app();
    let v = issue(&app, "alice", "password-reset").await;
    let token = v["token"].as_str().unwrap();
    assert!(token.starts_with("latch_o_"), "{token}");
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));

    let r = consume(&app, token, "password-reset").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"user_id": "alice", "purpose": "password-reset"})
    );

    let again = consume(&app, token, "password-reset").await.problem(400);
    assert_eq!(again["type"], "urn:latch:problem:one-time-token-invalid");
}

#[tokio::test]
async fn every_failure_reads_the_same_and_uses_the_token_up() {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let app = app_with_clock(
        Arc::new(latch_store_memory::MemoryStore::new()),
        Arc::new(clock.clone()),
    );
    let used = issue(&app, "bob", "email-verify").await;
    let used = used["token"].as_str().unwrap();
    assert_eq!(
        consume(&app, used, "email-verify").await.status,
        StatusCode::OK
    );
    let wrong_purpose = issue(&app, "bob", "email-verify").await;
    let wrong_purpose = wrong_purpose["token"].as_str().unwrap().to_owned();
    let expired = app
        .post(
            "/v1/one-time-tokens",
            json!({"user_id": "bob", "purpose": "email-verify", "ttl_s": 5}),
        )
        .await
        .json();
    clock.advance(Duration::from_secs(6));
    let expired = expired["token"].as_str().unwrap();

    let mut bodies = Vec::new();
    for (token, purpose) in [
        (used, "email-verify"),
        (wrong_purpose.as_str(), "password-reset"),
        (expired, "email-verify"),
        ("latch_o_not-a-token", "email-verify"),
        ("", "email-verify"),
    ] {
        let r = consume(&app, token, purpose).await;
        r.problem(400);
        bodies.push(r.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "failures must not say which"
    );
    // The wrong-purpose attempt used the token up: the right purpose now fails too.
    consume(&app, &wrong_purpose, "email-verify")
        .await
        .problem(400);
}

#[tokio::test]
async fn bad_requests_are_422_and_create_nothing() {
    let app = app();
    for body in [
        json!({"user_id": "", "purpose": "p"}),
        json!({"user_id": "u", "purpose": "Has Spaces"}),
        json!({"user_id": "u", "purpose": ""}),
        json!({"user_id": "u", "purpose": "p", "ttl_s": 0}),
        json!({"user_id": "u", "purpose": "p", "ttl_s": -1}),
    ] {
        app.post("/v1/one-time-tokens", body.clone())
            .await
            .problem(422);
    }
    app.post(
        "/v1/one-time-tokens",
        json!({"user_id": "u", "purpose": "p", "extra": 1}),
    )
    .await
    .problem(422);
    app.post(
        "/v1/one-time-tokens/consume",
        json!({"token": "x", "purpose": "NOT VALID"}),
    )
    .await
    .problem(422);
}

#[tokio::test]
async fn failed_consumes_are_rate_limited_per_api_key() {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let app = app_with_clock(
        Arc::new(latch_store_memory::MemoryStore::new()),
        Arc::new(clock.clone()),
    );
    let good = issue(&app, "carol", "magic-link").await;
    let good = good["token"].as_str().unwrap();
    for i in 0..latch_server::routes::one_time::MAX_FAILURES {
        let r = consume(&app, &format!("latch_o_guess{i}"), "magic-link").await;
        r.problem(400);
    }
    let r = consume(&app, "latch_o_one-more", "magic-link").await;
    let p = r.problem(429);
    assert_eq!(p["type"], "urn:latch:problem:too-many-attempts");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    // While limited, even a good token is not looked at (so it is not used up).
    consume(&app, good, "magic-link").await.problem(429);
    // When the window is over, the key may try again.
    clock.advance(Duration::from_millis(
        latch_server::routes::one_time::FAILURE_WINDOW_MS,
    ));
    assert_eq!(
        consume(&app, good, "magic-link").await.status,
        StatusCode::OK
    );
}
