//! Sessions: the server-side record behind a token, and the rules of its lifetime.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::token::{SessionId, Verifier};
use crate::user::UserId;

/// The longest user agent kept with a session, in bytes.
pub const MAX_USER_AGENT_LEN: usize = 512;

/// Where a session was created from, for the user's "your devices" list.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Device {
    /// The browser's or app's `User-Agent`, as the application passed it.
    pub user_agent: Option<String>,
    /// The client's IP address, as the application passed it.
    pub ip: Option<IpAddr>,
}

impl Device {
    /// Checks device details from an application.
    ///
    /// # Errors
    /// [`InvalidDevice`] if the user agent is too long or has control characters.
    pub fn new(user_agent: Option<String>, ip: Option<IpAddr>) -> Result<Self, InvalidDevice> {
        if let Some(ua) = &user_agent {
            if ua.len() > MAX_USER_AGENT_LEN {
                return Err(InvalidDevice::UserAgentTooLong);
            }
            if ua.chars().any(char::is_control) {
                return Err(InvalidDevice::UserAgentControl);
            }
        }
        Ok(Self { user_agent, ip })
    }
}

/// Why device details were refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidDevice {
    /// Longer than [`MAX_USER_AGENT_LEN`].
    #[error("device.user_agent must be at most 512 bytes")]
    UserAgentTooLong,
    /// Contains control characters.
    #[error("device.user_agent must not contain control characters")]
    UserAgentControl,
}

/// A session as the store keeps it. Holds no secret: only the verifier (a hash).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SessionRecord {
    /// The public id.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// SHA-256 of the current token's secret.
    pub verifier: Verifier,
    /// When the user signed in (kept across rotations).
    pub created_at: Timestamp,
    /// The last use the store knows of (written at most once per refresh interval).
    pub last_seen_at: Timestamp,
    /// The sliding idle window, in milliseconds.
    pub idle_timeout_ms: u64,
    /// The absolute end of the session, whatever its use.
    pub expires_at: Timestamp,
    /// Where it was created from.
    pub device: Device,
}

/// Whether a session may still be used at a given moment.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Liveness {
    /// Within both windows.
    Live,
    /// Unused for longer than its idle timeout.
    IdleExpired,
    /// Past its absolute expiry.
    Expired,
}

impl SessionRecord {
    /// When the idle window closes if the session is not used again.
    pub fn idle_expires_at(&self) -> Timestamp {
        self.idle_expires_after(self.last_seen_at)
    }

    /// When the idle window closes after a use at `last_seen`.
    pub fn idle_expires_after(&self, last_seen: Timestamp) -> Timestamp {
        last_seen.saturating_add(Duration::from_millis(self.idle_timeout_ms))
    }

    /// The first moment the session is no longer live, unless used again.
    pub fn ends_at(&self) -> Timestamp {
        self.idle_expires_at().min(self.expires_at)
    }

    /// The session's state at `now`, had it last been used at `last_seen`.
    pub fn liveness(&self, last_seen: Timestamp, now: Timestamp) -> Liveness {
        if now >= self.expires_at {
            Liveness::Expired
        } else if now >= self.idle_expires_after(last_seen) {
            Liveness::IdleExpired
        } else {
            Liveness::Live
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> SessionRecord {
        SessionRecord {
            id: SessionId::from_bytes([1; 18]),
            user_id: UserId::new("u").unwrap(),
            verifier: Verifier::from_bytes([0; 32]),
            created_at: Timestamp::from_millis(1000),
            last_seen_at: Timestamp::from_millis(1000),
            idle_timeout_ms: 500,
            expires_at: Timestamp::from_millis(3000),
            device: Device::default(),
        }
    }

    #[test]
    fn liveness_follows_both_windows() {
        let r = rec();
        let t = Timestamp::from_millis;
        assert_eq!(r.liveness(t(1000), t(1499)), Liveness::Live);
        assert_eq!(r.liveness(t(1000), t(1500)), Liveness::IdleExpired);
        assert_eq!(r.liveness(t(2900), t(2999)), Liveness::Live);
        assert_eq!(r.liveness(t(2999), t(3000)), Liveness::Expired);
        assert_eq!(r.ends_at(), t(1500));
    }

    #[test]
    fn device_details_are_checked() {
        assert!(Device::new(Some("x".repeat(513)), None).is_err());
        assert!(Device::new(Some("a\r\nb".into()), None).is_err());
        assert!(Device::new(Some("Mozilla/5.0".into()), "10.0.0.1".parse().ok()).is_ok());
    }
}
