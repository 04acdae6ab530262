//! Policy: the timeouts, caps and refresh cadence a deployment chooses, with defaults that follow
//! the OWASP Session Management Cheat Sheet (idle 15-30 minutes for ordinary apps, absolute 4-8
//! hours for a working day).

use std::time::Duration;

/// The rules every session follows. Built by the binary from flags and config, handed to the
/// engine as a value.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Policy {
    /// Idle timeout for sessions that do not ask for one. Default 30 minutes.
    pub default_idle_timeout: Duration,
    /// Absolute timeout for sessions that do not ask for one. Default 8 hours.
    pub default_absolute_timeout: Duration,
    /// The longest idle timeout a session may ask for; longer requests are capped. Default 7 days.
    pub max_idle_timeout: Duration,
    /// The longest absolute timeout a session may ask for; longer requests are capped.
    /// Default 30 days.
    pub max_absolute_timeout: Duration,
    /// The most live sessions one user may hold; creating one more ends the oldest. Default 100.
    pub max_sessions_per_user: u32,
    /// The idle window is refreshed in the store at most once per `idle_timeout /
    /// refresh_divisor` of use. Default 10: a session's idle expiry may be up to a tenth of its
    /// window early, and a busy session costs at most ten store writes per window.
    pub refresh_divisor: u32,
    /// Lifetime of a one-time token that does not ask for one. Default 10 minutes (ASVS 6.5.5
    /// for out-of-band codes).
    pub one_time_default_ttl: Duration,
    /// The longest lifetime a one-time token may ask for; longer requests are capped. Default
    /// 24 hours (an email-verification link).
    pub one_time_max_ttl: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            default_idle_timeout: Duration::from_secs(30 * 60),
            default_absolute_timeout: Duration::from_secs(8 * 3600),
            max_idle_timeout: Duration::from_secs(7 * 86_400),
            max_absolute_timeout: Duration::from_secs(30 * 86_400),
            max_sessions_per_user: 100,
            refresh_divisor: 10,
            one_time_default_ttl: Duration::from_secs(600),
            one_time_max_ttl: Duration::from_secs(86_400),
        }
    }
}

/// Why a requested timeout was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTimeout {
    /// A timeout of zero seconds.
    #[error("timeouts must be at least 1 second")]
    Zero,
}

/// The timeouts one session gets.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Timeouts {
    /// The sliding idle window.
    pub idle: Duration,
    /// The absolute lifetime.
    pub absolute: Duration,
}

impl Policy {
    /// The timeouts for a new session that asked for `idle_s` and `absolute_s` seconds: the
    /// defaults where absent, capped by the maxima.
    ///
    /// # Errors
    /// [`InvalidTimeout::Zero`] for a requested timeout of zero.
    pub fn timeouts(
        &self,
        idle_s: Option<u64>,
        absolute_s: Option<u64>,
    ) -> Result<Timeouts, InvalidTimeout> {
        let pick = |asked: Option<u64>, default: Duration, max: Duration| match asked {
            Some(0) => Err(InvalidTimeout::Zero),
            Some(s) => Ok(Duration::from_secs(s).min(max)),
            None => Ok(default.min(max)),
        };
        Ok(Timeouts {
            idle: pick(idle_s, self.default_idle_timeout, self.max_idle_timeout)?,
            absolute: pick(
                absolute_s,
                self.default_absolute_timeout,
                self.max_absolute_timeout,
            )?,
        })
    }

    /// The lifetime of a one-time token that asked for `ttl_s` seconds.
    ///
    /// # Errors
    /// [`InvalidTimeout::Zero`] for zero.
    pub fn one_time_ttl(&self, ttl_s: Option<u64>) -> Result<Duration, InvalidTimeout> {
        match ttl_s {
            Some(0) => Err(InvalidTimeout::Zero),
            Some(s) => Ok(Duration::from_secs(s).min(self.one_time_max_ttl)),
            None => Ok(self.one_time_default_ttl.min(self.one_time_max_ttl)),
        }
    }

    /// How long after the last stored use a validation writes a fresher one.
    pub fn refresh_after(&self, idle_timeout_ms: u64) -> u64 {
        idle_timeout_ms / u64::from(self.refresh_divisor.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_default_cap_and_refuse_zero() {
        let p = Policy::default();
        let t = p.timeouts(None, None).unwrap();
        assert_eq!(t.idle, Duration::from_secs(1800));
        assert_eq!(t.absolute, Duration::from_secs(8 * 3600));
        let t = p.timeouts(Some(1), Some(1)).unwrap();
        assert_eq!(t.idle, Duration::from_secs(1));
        let t = p.timeouts(Some(u64::MAX), Some(u64::MAX)).unwrap();
        assert_eq!(t.idle, p.max_idle_timeout);
        assert_eq!(t.absolute, p.max_absolute_timeout);
        assert_eq!(p.timeouts(Some(0), None), Err(InvalidTimeout::Zero));
        assert_eq!(p.refresh_after(60_000), 6_000);
    }
}
