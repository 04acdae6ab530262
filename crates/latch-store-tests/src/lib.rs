//! The store conformance suite: every Latch store backend must pass it, so switching backends
//! changes no behaviour.
//!
//! The tests drive the engine ([`latch_core::Latch`]) over the store under test with a
//! [`ManualClock`], so expiry is tested by moving time, not by sleeping. Expand them for a
//! backend with [`store_conformance!`], giving an expression that evaluates to a future of a
//! `(store, guard)` pair; the guard (a temporary directory, a server process) lives as long as
//! the test. The test crate needs `tokio` as a dev-dependency.
//!
//! ```ignore
//! latch_store_tests::store_conformance!(async { (latch_store_memory::MemoryStore::new(), ()) });
//! ```

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::session::Device;
use latch_core::store::Store;
use latch_core::time::{Clock, ManualClock};
use latch_core::token::TokenKey;
use latch_core::user::UserId;
use latch_core::{IssuedSession, Latch, NewSession};

pub mod suite;

/// Expands the whole conformance suite into `#[tokio::test]`s for one backend.
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@tests $make;
            create_validate_revoke,
            bad_tokens_are_inactive,
            rotate_replaces_the_token,
            revoke_by_id,
            list_and_revoke_all_except_one,
            role_change_shows_on_next_validation,
            block_revokes_and_refuses,
            session_cap_ends_the_oldest,
            idle_timeout_expires,
            use_refreshes_the_idle_window,
            absolute_timeout_expires_despite_use,
            timeouts_are_capped_and_zero_refused,
            sweep_removes_expired_sessions_and_index,
            users_are_created_and_changed,
            api_keys_are_stored_hashed,
            rotated_or_expired_tokens_cannot_rotate_or_revoke,
            a_stale_cache_entry_does_not_refuse_a_rotated_token,
            revoke_racing_validate,
            create_racing_block,
            rotate_racing_rotate,
            one_time_tokens_work_once,
            one_time_tokens_refuse_wrong_purpose_and_expiry_alike,
            one_time_consumes_racing,
            one_time_ttls_are_capped_and_swept,
            published_keys_are_replaced_and_expire,
            service_tokens_verify_across_nodes,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (store, guard) = $make.await;
                $crate::suite::$name(::std::sync::Arc::new(store)).await;
                drop(guard);
            }
        )*
    };
}

/// An engine over the store under test, with a clock the test moves.
pub struct Harness {
    /// The engine.
    pub latch: Arc<Latch>,
    /// The store, to check what it holds directly.
    pub store: Arc<dyn Store>,
    /// The engine's clock.
    pub clock: ManualClock,
}

impl Harness {
    /// An engine with the default policy.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_policy(store, Policy::default())
    }

    /// An engine with `policy`.
    pub fn with_policy(store: Arc<dyn Store>, policy: Policy) -> Self {
        let clock = ManualClock::starting_now();
        let latch = Self::engine(Arc::clone(&store), policy, clock.clone());
        Self {
            latch,
            store,
            clock,
        }
    }

    /// Another engine on the same store and clock, with a cold cache (as after a restart).
    pub fn cold_engine(&self) -> Latch {
        Latch::new(
            Arc::clone(&self.store),
            key(),
            self.latch.policy().clone(),
            CacheConfig::default(),
            Arc::new(self.clock.clone()),
        )
    }

    fn engine(store: Arc<dyn Store>, policy: Policy, clock: ManualClock) -> Arc<Latch> {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        Arc::new(Latch::new(
            store,
            key(),
            policy,
            CacheConfig::default(),
            clock,
        ))
    }

    /// Creates a session for `user` with the given timeouts in seconds.
    pub async fn create(
        &self,
        user: &str,
        idle_s: Option<u64>,
        absolute_s: Option<u64>,
    ) -> IssuedSession {
        self.latch
            .create_session(new_session(user, idle_s, absolute_s))
            .await
            .unwrap()
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

/// The fixed test key: every engine in a test shares it, as nodes on one store must.
pub fn key() -> TokenKey {
    TokenKey::from_bytes(&[42; 32])
}

/// A session request with a device.
pub fn new_session(user: &str, idle_s: Option<u64>, absolute_s: Option<u64>) -> NewSession {
    NewSession {
        user_id: UserId::new(user).unwrap(),
        device: Device::new(Some("conformance/1.0".into()), "192.0.2.7".parse().ok()).unwrap(),
        idle_timeout_s: idle_s,
        absolute_timeout_s: absolute_s,
    }
}

/// A user id unique to this process and call, so tests sharing a backend do not collide.
pub fn unique_user(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let r: [u8; 4] = latch_core::token::random_bytes().unwrap();
    format!(
        "{prefix}-{}-{:02x}{:02x}{:02x}{:02x}",
        N.fetch_add(1, Ordering::Relaxed),
        r[0],
        r[1],
        r[2],
        r[3]
    )
}
