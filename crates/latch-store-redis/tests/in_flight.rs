//! The hard case of a pushed invalidation, on a real server: node B's read of a session is in
//! flight (it has left Redis, not yet reached B's cache) when node A revokes the session and B
//! hears the invalidation. B's late fill must not put the revoked session back in its cache.
//!
//! B's store is the real Redis store with its answer held back on the way home (as a slow
//! network would), so the order is certain: read, revoke, invalidation, fill.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use latch_core::cache::CacheConfig;
use latch_core::one_time::OneTimeRecord;
use latch_core::policy::Policy;
use latch_core::session::{Device, SessionRecord};
use latch_core::store::{
    ApiKeyRecord, CreateLimits, Created, PublishedKey, Result, Store, UserUpdated,
};
use latch_core::time::{SystemClock, Timestamp};
use latch_core::token::{SessionId, TokenKey, Verifier};
use latch_core::user::{User, UserId, UserPatch};
use latch_core::{Latch, NewSession, Validation};
use latch_store_redis::feed::{Feed, FeedOptions};
use latch_store_redis::{RedisOptions, RedisStore};
use latch_test_redis::RedisServer;
use tokio::sync::Notify;

/// The real store, whose `session_with_user` answers only once let go.
struct HeldBack {
    inner: RedisStore,
    read_done: Notify,
    go: Notify,
}

#[async_trait]
impl Store for HeldBack {
    async fn session_with_user(
        &self,
        id: &SessionId,
    ) -> Result<Option<(SessionRecord, Option<User>)>> {
        let r = self.inner.session_with_user(id).await;
        self.read_done.notify_one();
        self.go.notified().await;
        r
    }
    async fn create_session(
        &self,
        s: SessionRecord,
        l: CreateLimits,
        now: Timestamp,
    ) -> Result<Created> {
        self.inner.create_session(s, l, now).await
    }
    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        self.inner.session(id).await
    }
    fn touch_session(&self, id: SessionId, at: Timestamp) {
        self.inner.touch_session(id, at);
    }
    async fn rotate_session(
        &self,
        id: &SessionId,
        c: &Verifier,
        n: Verifier,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>> {
        self.inner.rotate_session(id, c, n, now).await
    }
    async fn delete_session(
        &self,
        id: &SessionId,
        e: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>> {
        self.inner.delete_session(id, e).await
    }
    async fn delete_user_sessions(
        &self,
        u: &UserId,
        e: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        self.inner.delete_user_sessions(u, e).await
    }
    async fn user_sessions(&self, u: &UserId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        self.inner.user_sessions(u, now).await
    }
    async fn user(&self, u: &UserId) -> Result<Option<User>> {
        self.inner.user(u).await
    }
    async fn update_user(&self, u: &UserId, p: &UserPatch) -> Result<UserUpdated> {
        self.inner.update_user(u, p).await
    }
    async fn sweep_expired(&self, now: Timestamp, n: usize) -> Result<Vec<SessionRecord>> {
        self.inner.sweep_expired(now, n).await
    }
    async fn session_count(&self) -> Result<u64> {
        self.inner.session_count().await
    }
    async fn insert_one_time(&self, r: OneTimeRecord) -> Result<()> {
        self.inner.insert_one_time(r).await
    }
    async fn take_one_time(&self, h: &[u8; 32]) -> Result<Option<OneTimeRecord>> {
        self.inner.take_one_time(h).await
    }
    async fn insert_api_key(&self, k: ApiKeyRecord) -> Result<()> {
        self.inner.insert_api_key(k).await
    }
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.inner.api_keys().await
    }
    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        self.inner.delete_api_key(id).await
    }
    async fn publish_keys(&self, k: &[PublishedKey], now: Timestamp) -> Result<()> {
        self.inner.publish_keys(k, now).await
    }
    async fn published_keys(&self, now: Timestamp) -> Result<Vec<PublishedKey>> {
        self.inner.published_keys(now).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    fn expires_on_its_own(&self) -> bool {
        true
    }
}

fn engine(store: Arc<dyn Store>) -> Arc<Latch> {
    Arc::new(Latch::new(
        store,
        TokenKey::from_bytes(&[6; 32]),
        Policy::default(),
        CacheConfig::default(),
        Arc::new(SystemClock),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_during_a_read_in_flight_is_not_lost() {
    let server = RedisServer::new();
    let a_store = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .unwrap();
    let a = engine(Arc::new(a_store));
    let b_inner = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .unwrap();
    let held = Arc::new(HeldBack {
        inner: b_inner.clone(),
        read_done: Notify::new(),
        go: Notify::new(),
    });
    let b = engine(Arc::clone(&held) as Arc<dyn Store>);
    let feed = Feed::spawn(&b_inner, Arc::clone(&b), FeedOptions::default());
    assert!(feed.wait_healthy(Duration::from_secs(10)).await);

    let s = a
        .create_session(NewSession {
            user_id: UserId::new("in-flight").unwrap(),
            device: Device::default(),
            idle_timeout_s: None,
            absolute_timeout_s: None,
        })
        .await
        .unwrap();
    let token = s.token.expose().to_owned();

    // B starts validating (a miss: its cache is cold) and its read leaves Redis...
    let t = token.clone();
    let b2 = Arc::clone(&b);
    let in_flight = tokio::spawn(async move { b2.validate(&t).await.unwrap() });
    held.read_done.notified().await;
    // ...then A revokes, and B's feed hears of it while the read is still on its way (B's
    // ticket for the session changes when the invalidation reaches B's cache).
    let before = b.cache().session_ticket(&s.session.id);
    a.revoke_token(&token).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), async {
        while b.cache().session_ticket(&s.session.id) == before {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(heard.is_ok(), "B never heard the invalidation");
    held.go.notify_one();
    // The late answer describes the session as it was when read: active, then. But it must
    // not stay in B's cache: the next validation on B refuses.
    let late = in_flight.await.unwrap();
    assert!(matches!(late, Validation::Active(_)));
    let mut next = tokio::spawn({
        let b = Arc::clone(&b);
        async move { b.validate(&token).await.unwrap() }
    });
    // With the fill rightly dropped, the next validation misses and reads again (through the
    // held-back store); had the revoked session been cached, it answers without a read.
    let next = tokio::select! {
        v = &mut next => v.unwrap(),
        () = held.read_done.notified() => {
            held.go.notify_one();
            next.await.unwrap()
        }
    };
    assert!(
        !next.is_active(),
        "B answered from a cache filled with the revoked session"
    );
}
