//! Latch's core: opaque session tokens, sessions, users, the rules between them, the store
//! trait every backend implements, and the near-cache that makes a validation nearly free.
//!
//! No I/O and no runtime: the engine drives a [`store::Store`] it is handed, reads time from
//! a [`time::Clock`] it is handed, and logs through `tracing` and counts through `metrics`,
//! whose subscribers and recorders the binary installs.
//!
//! # Layout
//!
//! - [`token`]: the token format; where a token is made, parsed and its tag checked.
//! - [`session`]: the session record, device details, liveness (idle and absolute windows).
//! - [`user`]: user ids, roles, attributes, status, and checked changes.
//! - [`policy`]: timeouts, caps and the refresh cadence, with their defaults.
//! - [`store`]: the [`store::Store`] trait and its error.
//! - [`cache`]: the near-cache and the generation protocol that keeps it exact.
//! - [`engine`]: [`Latch`], which puts them together: create, validate, rotate, revoke.
//! - [`validation`]: the hot path's outcome type.
//! - [`api_key`]: API keys, hashed, checked in constant time.
//! - [`one_time`]: single-use tokens for password resets, email verification, magic links.
//! - [`service_token`]: short-lived EdDSA JWTs minted from a session for one service, and the
//!   keyring that signs them.
//! - [`cookie`]: the session cookie: how it is set, read and cleared.
//! - [`audit`]: bursts of failed validations.
//! - [`metrics`]: metric handles and a store wrapper that measures every operation.
//! - [`time`]: timestamps and clocks.

#![forbid(unsafe_code)]

pub mod api_key;
pub mod audit;
pub mod cache;
pub mod cookie;
pub mod engine;
pub mod metrics;
pub mod one_time;
pub mod policy;
pub mod service_token;
pub mod session;
pub mod store;
pub mod time;
pub mod token;
pub mod user;
pub mod validation;

pub use engine::{Error, IssuedSession, Latch, NewSession};
pub use validation::{ActiveSession, Inactive, Validation};
