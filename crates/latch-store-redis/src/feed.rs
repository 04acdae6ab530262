//! The invalidation feed (placeholder module replaced below).
