//! Shared helpers for the HTTP tests: an app over a real store, and a request helper.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use latch_core::session::SessionRecord;
use latch_core::store::{
    ApiKeyRecord, CreateLimits, Created, PublishedKey, Result, StoreError, UserUpdated,
};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserPatch};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use latch_core::Latch;
use latch_core::api_key::ApiKeySet;
use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::store::Store;
use latch_core::time::SystemClock;
use latch_core::token::TokenKey;
use latch_server::{ApiKeys, AppState};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::Value;
use tower::ServiceExt;

pub const KEY: &str = "test-api-key-0123456789abcdef-0123456789";
/// A second configured key (`config:2`), for per-key rules.
pub const KEY2: &str = "second-test-api-key-0123456789abcdef-01";

/// The process-wide metrics recorder (one may be installed per process).
pub fn metrics() -> PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
        .clone()
}

pub struct App {
    pub router: Router,
    pub state: AppState,
}

pub fn app_with(store: Arc<dyn Store>) -> App {
    app_with_clock(store, Arc::new(SystemClock))
}

pub fn app_with_clock(store: Arc<dyn Store>, clock: Arc<dyn latch_core::time::Clock>) -> App {
    let handle = metrics();
    let store: Arc<dyn Store> = Arc::new(latch_core::metrics::InstrumentedStore::new(store));
    let latch = Arc::new(Latch::new(
        store,
        TokenKey::from_bytes(&[9; 32]),
        Policy::default(),
        CacheConfig::default(),
        clock,
    ));
    let state = AppState::new(
        latch,
        ApiKeys::new(ApiKeySet::from_config(&[KEY.to_owned(), KEY2.to_owned()]).unwrap()),
        Some(handle),
    );
    App {
        router: latch_server::router(state.clone()),
        state,
    }
}

pub fn app() -> App {
    app_with(Arc::new(latch_store_memory::MemoryStore::new()))
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document with `status`.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:latch:problem:")
        );
        assert!(p["title"].is_string());
        p
    }
}

impl App {
    /// The same app with its state changed (service tokens, forward-auth settings).
    pub fn configure(self, f: impl FnOnce(AppState) -> AppState) -> Self {
        let state = f(self.state);
        Self {
            router: latch_server::router(state.clone()),
            state,
        }
    }
    /// Sets a user's roles.
    pub async fn set_roles(&self, user: &str, roles: &[&str]) {
        let a = self
            .call(
                Method::PUT,
                &format!("/v1/users/{user}"),
                Some(KEY),
                Some(&serde_json::json!({ "roles": roles }).to_string()),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let auth = key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.request(method, uri, &headers, body).await
    }

    /// A request with these headers (and a JSON body, if given).
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(s) => b
                .header("content-type", "application/json")
                .body(Body::from(s.to_owned()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        let r = self.router.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, uri: &str, body: Value) -> Answer {
        self.call(Method::POST, uri, Some(KEY), Some(&body.to_string()))
            .await
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, Some(KEY), None).await
    }

    pub async fn create(&self, user: &str) -> (String, Value) {
        let a = self
            .post("/v1/sessions", serde_json::json!({"user_id": user}))
            .await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
        let v = a.json();
        (
            v["token"].as_str().unwrap().to_owned(),
            v["session"].clone(),
        )
    }

    pub async fn validate(&self, token: &str) -> Value {
        let a = self
            .post("/v1/sessions/validate", serde_json::json!({"token": token}))
            .await;
        assert_eq!(a.status, StatusCode::OK);
        a.json()
    }

    pub async fn session_count(&self) -> u64 {
        self.state.latch.store().session_count().await.unwrap()
    }
}

/// A store whose backend cannot be reached: every call fails as a network outage would.
pub struct Unreachable;

fn down<T>() -> Result<T> {
    Err(StoreError::Unavailable("connection refused".into()))
}

#[async_trait]
impl Store for Unreachable {
    async fn create_session(
        &self,
        _: SessionRecord,
        _: CreateLimits,
        _: Timestamp,
    ) -> Result<Created> {
        down()
    }
    async fn session(&self, _: &SessionId) -> Result<Option<SessionRecord>> {
        down()
    }
    fn touch_session(&self, _: SessionId, _: Timestamp) {}
    async fn rotate_session(
        &self,
        _: &SessionId,
        _: &Verifier,
        _: Verifier,
        _: Timestamp,
    ) -> Result<Option<SessionRecord>> {
        down()
    }
    async fn delete_session(
        &self,
        _: &SessionId,
        _: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>> {
        down()
    }
    async fn delete_user_sessions(
        &self,
        _: &UserId,
        _: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        down()
    }
    async fn user_sessions(&self, _: &UserId, _: Timestamp) -> Result<Vec<SessionRecord>> {
        down()
    }
    async fn user(&self, _: &UserId) -> Result<Option<User>> {
        down()
    }
    async fn update_user(&self, _: &UserId, _: &UserPatch) -> Result<UserUpdated> {
        down()
    }
    async fn sweep_expired(&self, _: Timestamp, _: usize) -> Result<Vec<SessionRecord>> {
        down()
    }
    async fn session_count(&self) -> Result<u64> {
        down()
    }
    async fn insert_one_time(&self, _: latch_core::one_time::OneTimeRecord) -> Result<()> {
        down()
    }
    async fn take_one_time(
        &self,
        _: &[u8; 32],
    ) -> Result<Option<latch_core::one_time::OneTimeRecord>> {
        down()
    }
    async fn insert_api_key(&self, _: ApiKeyRecord) -> Result<()> {
        down()
    }
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        down()
    }
    async fn delete_api_key(&self, _: &str) -> Result<bool> {
        down()
    }
    async fn publish_keys(&self, _: &[PublishedKey], _: Timestamp) -> Result<()> {
        down()
    }
    async fn published_keys(&self, _: Timestamp) -> Result<Vec<PublishedKey>> {
        down()
    }
    async fn ping(&self) -> Result<()> {
        down()
    }
}
