//! The audit trail's one stateful piece: noticing bursts of failed validations (token guessing,
//! a leaked token list being tried, a broken client) without logging every failure.
//!
//! Every other audit event is a `tracing` event with target `latch::audit` written where it
//! happens; they name sessions by id and never carry a token, secret or key.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::warn;

use crate::time::Timestamp;
use crate::validation::Inactive;

/// The window over which failures are counted.
pub const BURST_WINDOW_MS: u64 = 10_000;
/// Failures within one window that make a burst.
pub const BURST_THRESHOLD: u64 = 100;

/// Counts failed validations per window and logs once when a window crosses the threshold.
#[derive(Debug, Default)]
pub(crate) struct FailureBurst {
    window_start: AtomicU64,
    count: AtomicU64,
}

impl FailureBurst {
    /// Counts a failure; true when this one completes a burst (and was logged).
    pub(crate) fn record(&self, now: Timestamp, why: Inactive) -> bool {
        // Expiry is the normal end of a session, not an attack signal.
        if matches!(why, Inactive::Expired | Inactive::IdleExpired) {
            return false;
        }
        let now = now.as_millis();
        let start = self.window_start.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= BURST_WINDOW_MS
            && self
                .window_start
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.count.store(0, Ordering::Relaxed);
        }
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n == BURST_THRESHOLD {
            warn!(
                target: "latch::audit",
                event = "validation.failure_burst",
                failures = n,
                window_s = BURST_WINDOW_MS / 1000,
                last_reason = why.as_str(),
                "many failed validations in a short time: token guessing or a broken client?"
            );
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_reported_once_per_window_and_expiry_does_not_count() {
        let b = FailureBurst::default();
        let t = Timestamp::from_millis(BURST_WINDOW_MS * 5);
        for _ in 0..1000 {
            assert!(!b.record(t, Inactive::Expired));
        }
        let fired: usize = (0..250)
            .map(|_| usize::from(b.record(t, Inactive::Forged)))
            .sum();
        assert_eq!(fired, 1);
        // A new window starts counting afresh.
        let later = Timestamp::from_millis(t.as_millis() + BURST_WINDOW_MS);
        let fired: usize = (0..99)
            .map(|_| usize::from(b.record(later, Inactive::Unknown)))
            .sum();
        assert_eq!(fired, 0);
        assert!(b.record(later, Inactive::Unknown));
    }
}
