//! Latch inside an axum (or any tower) application: no Latch service to call, the same
//! sessions, near-cache and store as `latch serve`.
//!
//! - [`LatchLayer`] hands every request a [`Sessions`] handle (cheap: two `Arc`s). Nothing is
//!   validated until a handler asks.
//! - [`Session`] is the extractor for routes that need a signed-in user: the session cookie
//!   (or `Authorization: Bearer`) is validated on first use, once per request. No active
//!   session: 401. Store unreachable: 503, never 401, so an outage logs nobody out.
//!   `Option<Session>` is the same for routes open to everyone.
//! - [`Sessions`] signs users in and out and rotates tokens, returning the cookie to set
//!   ([`SetSessionCookie`]) or clear ([`ClearSessionCookie`], with `Clear-Site-Data`).
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use latch_axum::{LatchLayer, Session};
//! # fn engine() -> Arc<latch_core::Latch> {
//! #     Arc::new(latch_core::Latch::new(
//! #         Arc::new(latch_store_memory::MemoryStore::new()),
//! #         latch_core::token::TokenKey::from_bytes(&[1; 32]),
//! #         latch_core::policy::Policy::default(),
//! #         latch_core::cache::CacheConfig::default(),
//! #         Arc::new(latch_core::time::SystemClock),
//! #     ))
//! # }
//! async fn me(session: Session) -> String {
//!     format!("hello {}", session.user().id.as_str())
//! }
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .layer(LatchLayer::new(engine()));
//! ```
//!
//! # Layout
//! - [`layer`]: the layer and the per-request handle.
//! - [`extract`]: the session extractor and its rejection.
//! - [`cookie`]: setting and clearing the session cookie in a response.

#![forbid(unsafe_code)]

pub mod cookie;
pub mod extract;
pub mod layer;

pub use cookie::{ClearSessionCookie, SetSessionCookie};
pub use extract::{Rejection, Session};
pub use latch_core::cookie::{SameSite, SessionCookie};
pub use layer::{LatchLayer, LatchService, Sessions};
