//! The layer and extractors in an axum app, through `oneshot`: sign in sets the cookie, the
//! cookie (or a bearer token) identifies the user, roles are current, sign out clears it, and
//! a store outage is 503, not 401.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http_body_util::BodyExt;
use latch_axum::{LatchLayer, SameSite, Session, SessionCookie, Sessions};
use latch_core::Latch;
use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::session::Device;
use latch_core::store::Store;
use latch_core::time::SystemClock;
use latch_core::token::TokenKey;
use latch_core::user::{UserId, UserPatch};
use tower::ServiceExt;

fn engine(store: Arc<dyn Store>) -> Arc<Latch> {
    Arc::new(Latch::new(
        store,
        TokenKey::from_bytes(&[5; 32]),
        Policy::default(),
        CacheConfig::default(),
        Arc::new(SystemClock),
    ))
}

fn app(latch: Arc<Latch>, cookie: SessionCookie) -> Router {
    async fn sign_in(sessions: Sessions) -> impl IntoResponse {
        let (_, cookie) = sessions
            .sign_in(UserId::new("ada").unwrap(), Device::default())
            .await
            .unwrap();
        (cookie, "signed in")
    }
    async fn me(s: Session) -> String {
        format!("{} {}", s.user().id.as_str(), s.user().roles.join(","))
    }
    async fn maybe(s: Option<Session>) -> String {
        s.map_or_else(|| "anonymous".into(), |s| s.user().id.as_str().to_owned())
    }
    async fn admin(s: Session) -> StatusCode {
        if s.has_role("admin") {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        }
    }
    async fn sign_out(sessions: Sessions, s: Session) -> impl IntoResponse {
        (sessions.sign_out(&s).await.unwrap(), "bye")
    }
    async fn rotate(sessions: Sessions, s: Session) -> impl IntoResponse {
        (sessions.rotate(&s).await.unwrap().unwrap().1, "rotated")
    }
    Router::new()
        .route("/sign-in", post(sign_in))
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/admin", get(admin))
        .route("/sign-out", post(sign_out))
        .route("/rotate", post(rotate))
        .layer(LatchLayer::new(latch).with_cookie(cookie))
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let r = app
        .clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// `name=value` from a Set-Cookie header.
fn cookie_pair(h: &axum::http::HeaderMap) -> String {
    h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn sign_in_cookie_roles_rotation_and_sign_out() {
    let latch = engine(Arc::new(latch_store_memory::MemoryStore::new()));
    let app = app(Arc::clone(&latch), SessionCookie::default());
    let (s, h, _) = call(&app, "POST", "/sign-in", &[]).await;
    assert_eq!(s, StatusCode::OK);
    let set = h[header::SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("__Host-latch=latch_s_"));
    assert!(
        set.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax"),
        "{set}"
    );
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    let c = cookie_pair(&h);
    let token = c.trim_start_matches("__Host-latch=").to_owned();

    assert_eq!(call(&app, "GET", "/me", &[("cookie", &c)]).await.2, "ada ");
    let bearer = format!("Bearer {token}");
    assert_eq!(
        call(&app, "GET", "/me", &[("authorization", &bearer)])
            .await
            .2,
        "ada "
    );
    assert_eq!(
        call(&app, "GET", "/maybe", &[("cookie", &c)]).await.2,
        "ada"
    );
    assert_eq!(call(&app, "GET", "/maybe", &[]).await.2, "anonymous");
    assert_eq!(
        call(&app, "GET", "/me", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &app,
            "GET",
            "/me",
            &[("cookie", "__Host-latch=latch_s_forged")]
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // A role granted elsewhere shows on the next request.
    assert_eq!(
        call(&app, "GET", "/admin", &[("cookie", &c)]).await.0,
        StatusCode::FORBIDDEN
    );
    let p = UserPatch::new(Some(vec!["admin".into()]), None, None).unwrap();
    latch
        .update_user(&UserId::new("ada").unwrap(), &p)
        .await
        .unwrap();
    assert_eq!(
        call(&app, "GET", "/admin", &[("cookie", &c)]).await.0,
        StatusCode::OK
    );

    // Rotation: a new cookie; the old one is dead at once.
    let (_, h, _) = call(&app, "POST", "/rotate", &[("cookie", &c)]).await;
    let c2 = cookie_pair(&h);
    assert_ne!(c2, c);
    assert_eq!(
        call(&app, "GET", "/me", &[("cookie", &c)]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/me", &[("cookie", &c2)]).await.0,
        StatusCode::OK
    );

    // Sign out clears the cookie and the site data; the token is revoked.
    let (s, h, _) = call(&app, "POST", "/sign-out", &[("cookie", &c2)]).await;
    assert_eq!(s, StatusCode::OK);
    let cleared = h[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-latch=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(h["clear-site-data"], "\"cache\", \"cookies\", \"storage\"");
    assert_eq!(
        call(&app, "GET", "/me", &[("cookie", &c2)]).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_configured_cookie_is_used_for_both_directions() {
    let latch = engine(Arc::new(latch_store_memory::MemoryStore::new()));
    let cookie = SessionCookie::default()
        .with_name("__Host-app")
        .unwrap()
        .with_same_site(SameSite::Strict);
    let app = app(latch, cookie);
    let (_, h, _) = call(&app, "POST", "/sign-in", &[]).await;
    let set = h[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("__Host-app=") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let c = cookie_pair(&h);
    assert_eq!(
        call(&app, "GET", "/me", &[("cookie", &c)]).await.0,
        StatusCode::OK
    );
    let wrong = c.replace("__Host-app", "__Host-latch");
    assert_eq!(
        call(&app, "GET", "/me", &[("cookie", &wrong)]).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn without_the_layer_the_extractor_is_a_500_not_a_401() {
    let app: Router = Router::new().route("/me", get(|_: Session| async { "x" }));
    assert_eq!(
        call(&app, "GET", "/me", &[]).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn an_unreachable_store_is_503_even_for_optional_sessions() {
    // A well-formed, correctly tagged token that only the store could judge.
    let healthy = engine(Arc::new(latch_store_memory::MemoryStore::new()));
    let issued = healthy
        .create_session(latch_core::NewSession {
            user_id: UserId::new("bo").unwrap(),
            device: Device::default(),
            idle_timeout_s: None,
            absolute_timeout_s: None,
        })
        .await
        .unwrap();
    let down = engine(Arc::new(Down));
    let app = app(down, SessionCookie::default());
    let c = format!("__Host-latch={}", issued.token.expose());
    for path in ["/me", "/maybe"] {
        let (s, h, _) = call(&app, "GET", path, &[("cookie", &c)]).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(h[header::RETRY_AFTER], "1");
    }
    // No token needs no store.
    assert_eq!(call(&app, "GET", "/maybe", &[]).await.2, "anonymous");
}

/// A store whose every read fails as an outage would.
struct Down;

#[async_trait::async_trait]
impl Store for Down {
    async fn create_session(
        &self,
        _: latch_core::session::SessionRecord,
        _: latch_core::store::CreateLimits,
        _: latch_core::time::Timestamp,
    ) -> latch_core::store::Result<latch_core::store::Created> {
        Err(down())
    }
    async fn session(
        &self,
        _: &latch_core::token::SessionId,
    ) -> latch_core::store::Result<Option<latch_core::session::SessionRecord>> {
        Err(down())
    }
    fn touch_session(&self, _: latch_core::token::SessionId, _: latch_core::time::Timestamp) {}
    async fn rotate_session(
        &self,
        _: &latch_core::token::SessionId,
        _: &latch_core::token::Verifier,
        _: latch_core::token::Verifier,
        _: latch_core::time::Timestamp,
    ) -> latch_core::store::Result<Option<latch_core::session::SessionRecord>> {
        Err(down())
    }
    async fn delete_session(
        &self,
        _: &latch_core::token::SessionId,
        _: Option<&latch_core::token::Verifier>,
    ) -> latch_core::store::Result<Option<latch_core::session::SessionRecord>> {
        Err(down())
    }
    async fn delete_user_sessions(
        &self,
        _: &UserId,
        _: Option<&latch_core::token::SessionId>,
    ) -> latch_core::store::Result<Vec<latch_core::token::SessionId>> {
        Err(down())
    }
    async fn user_sessions(
        &self,
        _: &UserId,
        _: latch_core::time::Timestamp,
    ) -> latch_core::store::Result<Vec<latch_core::session::SessionRecord>> {
        Err(down())
    }
    async fn user(&self, _: &UserId) -> latch_core::store::Result<Option<latch_core::user::User>> {
        Err(down())
    }
    async fn update_user(
        &self,
        _: &UserId,
        _: &UserPatch,
    ) -> latch_core::store::Result<latch_core::store::UserUpdated> {
        Err(down())
    }
    async fn sweep_expired(
        &self,
        _: latch_core::time::Timestamp,
        _: usize,
    ) -> latch_core::store::Result<Vec<latch_core::session::SessionRecord>> {
        Err(down())
    }
    async fn session_count(&self) -> latch_core::store::Result<u64> {
        Err(down())
    }
    async fn insert_one_time(
        &self,
        _: latch_core::one_time::OneTimeRecord,
    ) -> latch_core::store::Result<()> {
        Err(down())
    }
    async fn take_one_time(
        &self,
        _: &[u8; 32],
    ) -> latch_core::store::Result<Option<latch_core::one_time::OneTimeRecord>> {
        Err(down())
    }
    async fn insert_api_key(
        &self,
        _: latch_core::store::ApiKeyRecord,
    ) -> latch_core::store::Result<()> {
        Err(down())
    }
    async fn api_keys(&self) -> latch_core::store::Result<Vec<latch_core::store::ApiKeyRecord>> {
        Err(down())
    }
    async fn delete_api_key(&self, _: &str) -> latch_core::store::Result<bool> {
        Err(down())
    }
    async fn publish_keys(
        &self,
        _: &[latch_core::store::PublishedKey],
        _: latch_core::time::Timestamp,
    ) -> latch_core::store::Result<()> {
        Err(down())
    }
    async fn published_keys(
        &self,
        _: latch_core::time::Timestamp,
    ) -> latch_core::store::Result<Vec<latch_core::store::PublishedKey>> {
        Err(down())
    }
    async fn ping(&self) -> latch_core::store::Result<()> {
        Err(down())
    }
}

fn down() -> latch_core::store::StoreError {
    latch_core::store::StoreError::Unavailable("connection refused".into())
}
