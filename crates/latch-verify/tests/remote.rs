//! Keys fetched from a JWKS URL: a real HTTP listener serves the key set.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ed25519_dalek::SigningKey;
use latch_verify::keys::{Jwk, Jwks, thumbprint};
use latch_verify::remote::{ConfigError, RemoteError, RemoteVerifier};
use latch_verify::{Claims, Rejected};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(key: &SigningKey) -> String {
    let t = now();
    Claims {
        iss: "latch".into(),
        sub: "ada".into(),
        aud: "billing".into(),
        exp: t + 60,
        iat: t,
        nbf: t,
        jti: "j".into(),
        sid: "s".into(),
        roles: vec![],
    }
    .sign(key, &thumbprint(&key.verifying_key()))
}

fn jwks(keys: &[&SigningKey]) -> String {
    serde_json::to_string(&Jwks {
        keys: keys
            .iter()
            .map(|k| Jwk::ed25519(&k.verifying_key()))
            .collect(),
    })
    .unwrap()
}

/// Serves `doc` at /jwks.json (changeable), a redirect at /moved and a huge body at /huge;
/// counts fetches.
async fn issuer(doc: String) -> (String, Arc<Mutex<String>>, Arc<Mutex<u32>>) {
    let doc = Arc::new(Mutex::new(doc));
    let hits = Arc::new(Mutex::new(0));
    let (d, h) = (Arc::clone(&doc), Arc::clone(&hits));
    let app = Router::new()
        .route(
            "/jwks.json",
            get(move || {
                let (d, h) = (Arc::clone(&d), Arc::clone(&h));
                async move {
                    *h.lock().unwrap() += 1;
                    d.lock().unwrap().clone()
                }
            }),
        )
        .route(
            "/moved",
            get(|| async {
                (StatusCode::FOUND, [(header::LOCATION, "/jwks.json")]).into_response()
            }),
        )
        .route("/huge", get(|| async { "x".repeat(100 * 1024) }))
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, doc, hits)
}

#[tokio::test]
async fn fetches_once_then_verifies_from_the_cache() {
    let key = SigningKey::from_bytes(&[1; 32]);
    let (base, _, hits) = issuer(jwks(&[&key])).await;
    let v = RemoteVerifier::new(&format!("{base}/jwks.json"), "latch", "billing").unwrap();
    for _ in 0..5 {
        assert_eq!(v.verify(&token(&key)).await.unwrap().sub, "ada");
    }
    assert_eq!(*hits.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_new_kid_refreshes_the_keys_at_a_bounded_rate() {
    let (k1, k2) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (base, doc, hits) = issuer(jwks(&[&k1])).await;
    let url = format!("{base}/jwks.json");
    let v = RemoteVerifier::new(&url, "latch", "billing")
        .unwrap()
        .with_min_refresh(Duration::from_millis(200));
    v.verify(&token(&k1)).await.unwrap();
    // The issuer rotated: the next token names a key this verifier has not seen.
    *doc.lock().unwrap() = jwks(&[&k1, &k2]);
    // Within the minimum interval a new kid does not cause a fetch (no fetch floods)...
    assert!(matches!(
        v.verify(&token(&k2)).await,
        Err(RemoteError::Rejected(Rejected::UnknownKey))
    ));
    assert_eq!(*hits.lock().unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    // ...after it, one fetch finds the new key.
    v.verify(&token(&k2)).await.unwrap();
    v.verify(&token(&k1)).await.unwrap();
    assert_eq!(*hits.lock().unwrap(), 2);
    // A forged kid costs at most one fetch per interval.
    let forged = SigningKey::from_bytes(&[3; 32]);
    for _ in 0..10 {
        assert!(v.verify(&token(&forged)).await.is_err());
    }
    assert!(*hits.lock().unwrap() <= 3);
}

#[tokio::test]
async fn keys_come_only_from_the_configured_url() {
    let key = SigningKey::from_bytes(&[1; 32]);
    let (base, _, _) = issuer(jwks(&[&key])).await;
    // No redirects: the configured URL or nothing.
    let moved = RemoteVerifier::new(&format!("{base}/moved"), "latch", "billing").unwrap();
    assert!(matches!(
        moved.verify(&token(&key)).await,
        Err(RemoteError::Fetch(_))
    ));
    let huge = RemoteVerifier::new(&format!("{base}/huge"), "latch", "billing").unwrap();
    assert!(matches!(
        huge.verify(&token(&key)).await,
        Err(RemoteError::Fetch(_))
    ));
    let broken = RemoteVerifier::new(&format!("{base}/broken"), "latch", "billing").unwrap();
    assert!(matches!(
        broken.verify(&token(&key)).await,
        Err(RemoteError::Fetch(_))
    ));
    // Plain http only to this machine; other schemes never.
    assert!(matches!(
        RemoteVerifier::new("http://latch.example/jwks.json", "latch", "billing"),
        Err(ConfigError::InsecureUrl(_))
    ));
    assert!(matches!(
        RemoteVerifier::new("file:///etc/passwd", "latch", "billing"),
        Err(ConfigError::Url(_))
    ));
    assert!(RemoteVerifier::new("not a url", "latch", "billing").is_err());
    assert!(RemoteVerifier::new("https://latch.example/jwks.json", "latch", "billing").is_ok());
    assert!(RemoteVerifier::new("http://[::1]:1/jwks.json", "latch", "billing").is_ok());
    assert!(
        RemoteVerifier::allow_http("http://latch.internal/jwks.json", "latch", "billing").is_ok()
    );
}

#[tokio::test]
async fn an_unreachable_issuer_is_unavailable_not_invalid() {
    let key = SigningKey::from_bytes(&[1; 32]);
    let v = RemoteVerifier::new("http://127.0.0.1:1/jwks.json", "latch", "billing").unwrap();
    assert!(matches!(
        v.verify(&token(&key)).await,
        Err(RemoteError::Fetch(_))
    ));
}
