//! The routes, one module per resource.

pub mod api_keys;
pub mod forward_auth;
pub mod one_time;
pub mod ops;
pub mod service_tokens;
pub mod sessions;
pub mod users;
