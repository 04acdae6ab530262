//! Metric handles, registered once so the hot path only increments atomics, and a store wrapper
//! that records every store operation's count, outcome and latency.
//!
//! Names are prefixed `latch_`. Labels never carry tokens, secrets, keys or user ids.

use std::time::Instant;

use async_trait::async_trait;
use metrics::{Counter, Histogram, counter, gauge, histogram};

use crate::session::SessionRecord;
use crate::store::{ApiKeyRecord, CreateLimits, Created, Result, Store, UserUpdated};
use crate::time::Timestamp;
use crate::token::{SessionId, Verifier};
use crate::user::{User, UserId, UserPatch};
use crate::validation::Inactive;

/// Counters the engine bumps on its hot path.
#[derive(Clone, Debug)]
pub(crate) struct EngineMetrics {
    pub(crate) active: Counter,
    inactive: [Counter; Inactive::ALL.len()],
    pub(crate) unavailable: Counter,
    pub(crate) session_hit: Counter,
    pub(crate) session_miss: Counter,
    pub(crate) user_hit: Counter,
    pub(crate) user_miss: Counter,
}

impl EngineMetrics {
    pub(crate) fn register() -> Self {
        let v = |o: &'static str| counter!("latch_validations_total", "outcome" => o);
        let c = |cache: &'static str, r: &'static str| counter!("latch_cache_lookups_total", "cache" => cache, "result" => r);
        Self {
            active: v("active"),
            inactive: Inactive::ALL.map(|i| v(i.as_str())),
            unavailable: v("unavailable"),
            session_hit: c("session", "hit"),
            session_miss: c("session", "miss"),
            user_hit: c("user", "hit"),
            user_miss: c("user", "miss"),
        }
    }

    pub(crate) fn inactive(&self, why: Inactive) {
        let i = Inactive::ALL.iter().position(|x| *x == why).unwrap_or(0);
        self.inactive[i].increment(1);
    }
}

/// Sets the `latch_active_sessions` gauge (session records held, live or awaiting the sweep).
pub fn set_active_sessions(n: u64) {
    gauge!("latch_active_sessions").set(n as f64);
}

/// A [`Store`] that records `latch_store_operations_total{op,result}` and
/// `latch_store_operation_duration_seconds{op}` around another store.
pub struct InstrumentedStore<S> {
    inner: S,
    ops: Vec<OpMetrics>,
}

#[derive(Clone)]
struct OpMetrics {
    ok: Counter,
    err: Counter,
    seconds: Histogram,
}

const OPS: [&str; 19] = [
    "create_session",
    "session",
    "touch_session",
    "rotate_session",
    "delete_session",
    "delete_user_sessions",
    "user_sessions",
    "user",
    "update_user",
    "sweep_expired",
    "session_count",
    "api_keys",
    "write_api_key",
    "ping",
    "session_with_user",
    "insert_one_time",
    "take_one_time",
    "publish_keys",
    "published_keys",
];

impl<S: Store> InstrumentedStore<S> {
    /// Wraps `inner`; registers the handles with the installed recorder.
    pub fn new(inner: S) -> Self {
        let ops = OPS
            .iter()
            .map(|op| OpMetrics {
                ok: counter!("latch_store_operations_total", "op" => *op, "result" => "ok"),
                err: counter!("latch_store_operations_total", "op" => *op, "result" => "error"),
                seconds: histogram!("latch_store_operation_duration_seconds", "op" => *op),
            })
            .collect();
        Self { inner, ops }
    }

    async fn timed<T>(&self, op: usize, f: impl Future<Output = Result<T>>) -> Result<T> {
        let start = Instant::now();
        let r = f.await;
        let m = &self.ops[op];
        m.seconds.record(start.elapsed().as_secs_f64());
        if r.is_ok() { &m.ok } else { &m.err }.increment(1);
        r
    }
}

#[async_trait]
impl<S: Store> Store for InstrumentedStore<S> {
    async fn create_session(
        &self,
        session: SessionRecord,
        limits: CreateLimits,
        now: Timestamp,
    ) -> Result<Created> {
        self.timed(0, self.inner.create_session(session, limits, now))
            .await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        self.timed(1, self.inner.session(id)).await
    }

    async fn session_with_user(
        &self,
        id: &SessionId,
    ) -> Result<Option<(SessionRecord, Option<User>)>> {
        self.timed(14, self.inner.session_with_user(id)).await
    }

    fn touch_session(&self, id: SessionId, last_seen: Timestamp) {
        self.ops[2].ok.increment(1);
        self.inner.touch_session(id, last_seen);
    }

    async fn rotate_session(
        &self,
        id: &SessionId,
        current: &Verifier,
        next: Verifier,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>> {
        self.timed(3, self.inner.rotate_session(id, current, next, now))
            .await
    }

    async fn delete_session(
        &self,
        id: &SessionId,
        expected: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>> {
        self.timed(4, self.inner.delete_session(id, expected)).await
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        self.timed(5, self.inner.delete_user_sessions(user, except))
            .await
    }

    async fn user_sessions(&self, user: &UserId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        self.timed(6, self.inner.user_sessions(user, now)).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>> {
        self.timed(7, self.inner.user(id)).await
    }

    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<UserUpdated> {
        self.timed(8, self.inner.update_user(id, patch)).await
    }

    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<SessionRecord>> {
        self.timed(9, self.inner.sweep_expired(now, limit)).await
    }

    async fn session_count(&self) -> Result<u64> {
        self.timed(10, self.inner.session_count()).await
    }

    async fn insert_one_time(&self, record: crate::one_time::OneTimeRecord) -> Result<()> {
        self.timed(15, self.inner.insert_one_time(record)).await
    }

    async fn take_one_time(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<crate::one_time::OneTimeRecord>> {
        self.timed(16, self.inner.take_one_time(hash)).await
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> Result<()> {
        self.timed(12, self.inner.insert_api_key(key)).await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.timed(11, self.inner.api_keys()).await
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        self.timed(12, self.inner.delete_api_key(id)).await
    }

    async fn publish_keys(
        &self,
        keys: &[crate::store::PublishedKey],
        now: Timestamp,
    ) -> Result<()> {
        self.timed(17, self.inner.publish_keys(keys, now)).await
    }

    async fn published_keys(&self, now: Timestamp) -> Result<Vec<crate::store::PublishedKey>> {
        self.timed(18, self.inner.published_keys(now)).await
    }

    async fn ping(&self) -> Result<()> {
        self.timed(13, self.inner.ping()).await
    }

    fn expires_on_its_own(&self) -> bool {
        self.inner.expires_on_its_own()
    }
}
