//! Service tokens over HTTP: minting (audiences, per-key grants, inactive sessions), the JWK
//! Set, and rotation with an injected clock: no token that is still valid fails to verify at
//! any point of a rotation.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{App, KEY, KEY2, Unreachable, app, app_with, app_with_clock};
use latch_core::service_token::{Ephemeral, Keyring, ServiceTokenPolicy, ServiceTokens};
use latch_core::time::ManualClock;
use latch_verify::{KeySet, Verifier};
use serde_json::{Value, json};

fn policy(audiences: &[&str]) -> ServiceTokenPolicy {
    let mut p = ServiceTokenPolicy::default();
    p.audiences = audiences.iter().map(|a| (*a).to_owned()).collect();
    p
}

fn with_tokens(app: App, policy: ServiceTokenPolicy) -> App {
    let now = app.state.latch.clock().now();
    let service = Arc::new(ServiceTokens::new(
        policy,
        Keyring::first(now).unwrap(),
        Arc::new(Ephemeral),
    ));
    app.configure(|s| s.with_service_tokens(service))
}

async fn mint(app: &App, key: &str, token: &str, audience: &str) -> common::Answer {
    let body = json!({"token": token, "audience": audience}).to_string();
    app.call(Method::POST, "/v1/service-tokens", Some(key), Some(&body))
        .await
}

/// Publishes this node's keys (as upkeep does) and reads the public JWK Set, without an API key.
async fn jwks(app: &App) -> (KeySet, Value) {
    latch_server::maintenance::run_once(&app.state).await;
    let r = app
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/jwk-set+json"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    (KeySet::from_jwks_json(&r.body).unwrap(), r.json())
}

fn secs(app: &App) -> u64 {
    app.state.latch.clock().now().as_millis() / 1000
}

#[tokio::test]
async fn a_session_mints_a_token_the_jwks_verifies() {
    let app = with_tokens(app(), policy(&["billing"]));
    let (token, session) = app.create("ada").await;
    app.set_roles("ada", &["admin", "ops"]).await;
    let r = mint(&app, KEY, &token, "billing").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["expires_in"], 60);
    let (keys, doc) = jwks(&app).await;
    // Public keys only.
    let jwk = &doc["keys"][0];
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(jwk.get("d").is_none());
    let claims = Verifier::new(keys, "latch", "billing")
        .verify(v["jwt"].as_str().unwrap(), secs(&app))
        .unwrap();
    assert_eq!(claims.sub, "ada");
    assert_eq!(claims.sid, session["id"].as_str().unwrap());
    assert_eq!(claims.roles, ["admin", "ops"]);
    assert_eq!(claims.exp - claims.iat, 60);
    // Nothing secret in the payload: not the session token, not its secret.
    let payload = v["jwt"].as_str().unwrap().split('.').nth(1).unwrap();
    assert!(!payload.contains(&token[8..20]));
}

#[tokio::test]
async fn only_configured_audiences_and_active_sessions_mint() {
    let off = app();
    let (token, _) = off.create("bo").await;
    // None by default.
    let p = mint(&off, KEY, &token, "billing").await.problem(403);
    assert_eq!(p["type"], "urn:latch:problem:audience-not-allowed");

    let app = with_tokens(app(), policy(&["billing"]));
    let (token, _) = app.create("bo").await;
    mint(&app, KEY, &token, "search").await.problem(403);
    mint(&app, KEY, &token, "").await.problem(422);
    mint(&app, KEY, &token, "a,b").await.problem(422);
    mint(&app, KEY, &token, &"x".repeat(129)).await.problem(422);
    mint(&app, KEY, "latch_s_forged", "billing")
        .await
        .problem(401);
    app.post("/v1/sessions/revoke", json!({"token": token}))
        .await;
    let p = mint(&app, KEY, &token, "billing").await.problem(401);
    assert_eq!(p["type"], "urn:latch:problem:session-inactive");
    // A blocked user's sessions are gone, so nothing is minted for them either.
    let (token, _) = app.create("cy").await;
    app.call(
        Method::PUT,
        "/v1/users/cy",
        Some(KEY),
        Some(r#"{"status":"blocked"}"#),
    )
    .await;
    mint(&app, KEY, &token, "billing").await.problem(401);
    // Unknown fields and a missing API key are refused as everywhere else.
    let body = json!({"token": token, "audience": "billing", "scope": "all"}).to_string();
    app.call(Method::POST, "/v1/service-tokens", Some(KEY), Some(&body))
        .await
        .problem(422);
    app.call(Method::POST, "/v1/service-tokens", None, Some(&body))
        .await
        .problem(401);
}

#[tokio::test]
async fn per_key_grants_limit_who_mints_for_whom() {
    let mut p = policy(&["billing", "search"]);
    p.key_audiences = Some(BTreeMap::from([(
        "config:2".to_owned(),
        ["search".to_owned()].into(),
    )]));
    let app = with_tokens(app(), p);
    let (token, _) = app.create("di").await;
    assert_eq!(
        mint(&app, KEY2, &token, "search").await.status,
        StatusCode::OK
    );
    mint(&app, KEY2, &token, "billing").await.problem(403);
    // A key not listed may mint for nothing once grants are configured.
    mint(&app, KEY, &token, "search").await.problem(403);
}

#[tokio::test]
async fn no_valid_token_fails_during_a_rotation() {
    let clock = ManualClock::starting_now();
    let mut p = policy(&["billing"]);
    p.ttl = Duration::from_secs(300);
    let app = with_tokens(
        app_with_clock(
            Arc::new(latch_store_memory::MemoryStore::new()),
            Arc::new(clock.clone()),
        ),
        p,
    );
    let (token, _) = app.create("ed").await;
    let kid_of = |jwt: &str| -> String {
        let h = jwt.split('.').next().unwrap();
        let h: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    let mut minted: Vec<(String, u64)> = Vec::new();
    let mut kids = Vec::new();
    // Every 30 s for 40 minutes: mint a token, check every token minted so far that has not
    // expired against the JWK Set as served now. Rotate at minute 5 (scheduled publish-ahead
    // of 10 minutes: the new key signs from minute 15; the old stays published until 6
    // minutes after that).
    for step in 0..80u64 {
        if step == 10 {
            let r = app.post("/v1/keys/rotate", json!({})).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.json()["already_pending"], false);
            let again = app.post("/v1/keys/rotate", json!({})).await.json();
            assert_eq!(again["already_pending"], true);
        }
        let r = mint(&app, KEY, &token, "billing").await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "step {step}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let jwt = r.json()["jwt"].as_str().unwrap().to_owned();
        if kids.last() != Some(&kid_of(&jwt)) {
            kids.push(kid_of(&jwt));
        }
        minted.push((jwt, secs(&app) + 300));
        let (keys, _) = jwks(&app).await;
        let v = Verifier::new(keys, "latch", "billing").with_leeway(0);
        let now = secs(&app);
        for (jwt, exp) in minted.iter().filter(|(_, exp)| *exp > now) {
            v.verify(jwt, now)
                .unwrap_or_else(|e| panic!("step {step}: a token valid until {exp} failed: {e}"));
        }
        clock.advance(Duration::from_secs(30));
    }
    assert_eq!(kids.len(), 2, "the new key took over once: {kids:?}");
    // Long after the hand-over the old key has left the JWK Set and the keyring.
    let (keys, _) = jwks(&app).await;
    assert!(keys.get(&kids[0]).is_none());
    assert!(keys.get(&kids[1]).is_some());
    let listed = app.get("/v1/keys").await.json();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["keys"][0]["state"], "signing");
}

#[tokio::test]
async fn an_immediate_rotation_withdraws_the_old_key() {
    let app = with_tokens(app(), policy(&["billing"]));
    let (token, _) = app.create("fa").await;
    let old = mint(&app, KEY, &token, "billing").await.json()["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post("/v1/keys/rotate", json!({"immediately": true}))
        .await
        .json();
    assert_eq!(r["already_pending"], false);
    let new = mint(&app, KEY, &token, "billing").await.json()["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    // A verifier that refetches the JWK Set sees only the new key.
    let (keys, _) = jwks(&app).await;
    let v = Verifier::new(keys, "latch", "billing");
    assert!(v.verify(&old, secs(&app)).is_err());
    assert!(v.verify(&new, secs(&app)).is_ok());
    // Listing never shows private keys.
    let listed = app.get("/v1/keys").await;
    let text = String::from_utf8_lossy(&listed.body);
    assert!(
        !text.contains("secret") && !text.contains("\"d\""),
        "{text}"
    );
    app.call(
        Method::POST,
        "/v1/keys/rotate",
        Some(KEY),
        Some(r#"{"now":true}"#),
    )
    .await
    .problem(422);
}

#[tokio::test]
async fn keys_rotate_by_themselves_on_schedule() {
    let clock = ManualClock::starting_now();
    let mut p = policy(&["billing"]);
    p.rotate_every = Some(Duration::from_secs(86_400));
    let app = with_tokens(
        app_with_clock(
            Arc::new(latch_store_memory::MemoryStore::new()),
            Arc::new(clock.clone()),
        ),
        p,
    );
    latch_server::maintenance::run_once(&app.state).await;
    assert_eq!(
        app.get("/v1/keys").await.json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    clock.advance(Duration::from_secs(86_400));
    latch_server::maintenance::run_once(&app.state).await;
    let keys = app.get("/v1/keys").await.json();
    let states: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["signing", "pending"]);
}

#[tokio::test]
async fn the_jwks_is_unavailable_not_empty_when_the_store_is_down() {
    let app = with_tokens(app_with(Arc::new(Unreachable)), policy(&["billing"]));
    app.call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .problem(503);
}
