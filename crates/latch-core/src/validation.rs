//! What a validation says: a small, allocation-free outcome on the hot path.

use std::sync::Arc;

use crate::cache::{CachedSession, CachedUser};
use crate::session::SessionRecord;
use crate::time::Timestamp;
use crate::user::User;

/// The outcome of validating a token.
#[derive(Debug)]
pub enum Validation {
    /// The session is live and its user active.
    Active(ActiveSession),
    /// The token gives no access. Over HTTP every variant is the same `{"active": false}`;
    /// the reason is for metrics and logs only.
    Inactive(Inactive),
}

impl Validation {
    /// Whether the token gives access.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Active(_))
    }
}

/// Why a token gives no access.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Inactive {
    /// Past its absolute expiry.
    Expired,
    /// Not shaped like a token; rejected without a store read.
    Malformed,
    /// Well-formed but its tag is wrong: never issued by a node sharing this key. Rejected
    /// without a store read.
    Forged,
    /// Unused for longer than its idle timeout.
    IdleExpired,
    /// No such session (revoked, swept, or never existed).
    Unknown,
    /// The user is blocked.
    UserBlocked,
    /// The session exists but the token's secret is not the current one (rotated away).
    WrongSecret,
}

impl Inactive {
    /// Every reason, for pre-registering metrics.
    pub const ALL: [Self; 7] = [
        Self::Expired,
        Self::Malformed,
        Self::Forged,
        Self::IdleExpired,
        Self::Unknown,
        Self::UserBlocked,
        Self::WrongSecret,
    ];

    /// A stable label for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Malformed => "malformed",
            Self::Forged => "forged",
            Self::IdleExpired => "idle_expired",
            Self::Unknown => "unknown",
            Self::UserBlocked => "user_blocked",
            Self::WrongSecret => "wrong_secret",
        }
    }
}

/// A live session and its user's current state, shared with the near-cache (no copies).
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub(crate) session: Arc<CachedSession>,
    pub(crate) last_seen: Timestamp,
    pub(crate) user: Arc<CachedUser>,
}

impl ActiveSession {
    /// The session record.
    pub fn record(&self) -> &SessionRecord {
        &self.session.record
    }

    /// The last use the server has recorded.
    pub fn last_seen_at(&self) -> Timestamp {
        self.last_seen
    }

    /// When the idle window closes if the session is not used again.
    pub fn idle_expires_at(&self) -> Timestamp {
        self.session.record.idle_expires_after(self.last_seen)
    }

    /// The user's current state.
    pub fn user(&self) -> &User {
        &self.user.user
    }
}
