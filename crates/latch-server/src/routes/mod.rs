//! The routes, one module per resource.

pub mod api_keys;
pub mod one_time;
pub mod ops;
pub mod sessions;
pub mod users;
