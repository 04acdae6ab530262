//! The routes, one module per resource.

pub mod api_keys;
pub mod ops;
pub mod sessions;
pub mod users;
