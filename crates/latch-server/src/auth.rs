//! API-key authentication for `/v1/` routes: `Authorization: Bearer <key>`, checked against
//! hashes in constant time. Anything else is 401 before a handler runs.

use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use latch_core::api_key::ApiKeySet;
use latch_core::store::Store;

use crate::problem::Problem;

/// The keys this node accepts; reloaded from the store when keys change.
#[derive(Clone, Debug, Default)]
pub struct ApiKeys(Arc<RwLock<Arc<ApiKeySet>>>);

impl ApiKeys {
    /// Starts from `set` (configured keys and any stored ones).
    pub fn new(set: ApiKeySet) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(set))))
    }

    /// The current set.
    pub fn current(&self) -> Arc<ApiKeySet> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Reloads stored keys from `store`, keeping the configured ones.
    ///
    /// # Errors
    /// The store's error; the old set stays in force.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), latch_core::store::StoreError> {
        let stored = store.api_keys().await?;
        let next = Arc::new(self.current().with_stored(&stored));
        match self.0.write() {
            Ok(mut g) => *g = next,
            Err(p) => *p.into_inner() = next,
        }
        Ok(())
    }
}

/// Which API key made the request (an opaque label: `config:N` or the key's id, never the
/// key), for limits and per-key grants.
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<str>);

/// Middleware: lets the request through only with a valid API key.
pub async fn require_api_key(
    State(keys): State<ApiKeys>,
    mut req: Request,
    next: Next,
) -> Result<Response, Problem> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii);
    let label = presented.and_then(|k| keys.current().check_label(k));
    match (presented, label) {
        (Some(_), Some(label)) => {
            req.extensions_mut().insert(Caller(label));
            Ok(next.run(req).await)
        }
        (Some(_), None) => Err(unauthorized("the API key is not valid")),
        (None, _) => Err(unauthorized(
            "send an API key as `Authorization: Bearer <key>`",
        )),
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
    )
    .detail(detail)
}
