//! The store: the source of truth every node shares, as a trait with one conformance suite
//! (`latch-store-tests`) that every backend passes.
//!
//! A store keeps records and applies each operation atomically; the rules (expiry, caps, who
//! may do what) are decided by the engine and handed in as arguments, so every backend has the
//! same semantics. Operations that take `now` use it to ignore what has already expired.
//!
//! Every method that writes returns only once the write is as durable as the backend is
//! configured to make it: the HTTP answer that follows is a promise.

use async_trait::async_trait;

use crate::one_time::OneTimeRecord;
use crate::session::SessionRecord;
use crate::time::Timestamp;
use crate::token::{SessionId, Verifier};
use crate::user::{User, UserId, UserPatch};

/// The result type of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A store failed. The engine answers "unavailable", never "invalid": an outage must not log
/// anyone out, and nothing that could have been revoked is accepted while it lasts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or did not answer in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with data this version cannot read.
    #[error("store data is corrupt or from an unknown version: {0}")]
    Corrupt(String),
    /// The store is shutting down and takes no more writes.
    #[error("store is shutting down")]
    Closed,
}

/// What the engine asks of a new session besides the record itself.
#[derive(Clone, Copy, Debug)]
pub struct CreateLimits {
    /// The most live sessions the user may hold; the oldest are revoked to make room.
    pub max_sessions_per_user: u32,
}

/// The outcome of [`Store::create_session`].
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Created {
    /// The session exists now. `evicted` are older sessions of the user ended to stay within
    /// the cap.
    Created {
        /// Sessions ended to make room.
        evicted: Vec<SessionId>,
    },
    /// The user is blocked; nothing was written.
    UserBlocked,
}

/// The outcome of [`Store::update_user`].
#[derive(Clone, Debug, PartialEq)]
pub struct UserUpdated {
    /// The user before the change (`None` if it did not exist).
    pub before: Option<User>,
    /// The user after the change.
    pub after: User,
    /// Sessions revoked by the change (all of them when the user became blocked).
    pub revoked: Vec<SessionId>,
}

/// An API key as stored: never the key, only its SHA-256.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApiKeyRecord {
    /// A short public id, to list and revoke the key by.
    pub id: String,
    /// A label chosen by the operator.
    pub name: String,
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// When it was created.
    pub created_at: Timestamp,
}

/// A public signing key as published through the store, so every node's JWK Set lists every
/// node's keys. Never a private key.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PublishedKey {
    /// The key id (its RFC 7638 thumbprint).
    pub kid: String,
    /// The public key as a JWK, in JSON.
    pub jwk: String,
    /// When it stops being published.
    pub until: Timestamp,
}

impl PublishedKey {
    /// The record for `jwk`, published until `until`.
    pub fn new(jwk: &latch_verify::keys::Jwk, until: Timestamp) -> Self {
        Self {
            kid: jwk.kid.clone(),
            // Serializing a struct of strings cannot fail.
            jwk: serde_json::to_string(jwk).unwrap_or_default(),
            until,
        }
    }
}

/// The operations a Latch store offers.
///
/// Implementations must make each method atomic: no reader or crash may observe half of it.
/// Methods that write must not return before the write is durable as configured.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts `session`, indexes it under its user (creating the user, active, if unknown),
    /// and revokes the user's oldest live sessions beyond the cap; or does nothing if the user
    /// is blocked. Must be atomic with respect to [`Store::update_user`], so a session created
    /// while the user is being blocked does not survive the block.
    async fn create_session(
        &self,
        session: SessionRecord,
        limits: CreateLimits,
        now: Timestamp,
    ) -> Result<Created>;

    /// The session with this id, expired or not (the engine judges expiry).
    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>>;

    /// The session and its user in one go, for a validation that missed the cache. Backends
    /// that can read both in one round trip (Redis: one script on the shared slot) override
    /// this.
    async fn session_with_user(
        &self,
        id: &SessionId,
    ) -> Result<Option<(SessionRecord, Option<User>)>> {
        let Some(s) = self.session(id).await? else {
            return Ok(None);
        };
        let u = self.user(&s.user_id).await?;
        Ok(Some((s, u)))
    }

    /// Records a use: raises `last_seen_at` to `last_seen` if the session exists, is live at
    /// `last_seen`, and the value is newer. Best effort and not awaited: the engine calls it
    /// on the validation path, and a lost refresh only makes the idle expiry a little earlier.
    fn touch_session(&self, id: SessionId, last_seen: Timestamp);

    /// Replaces the verifier if the current one is `current` and the session is live at `now`;
    /// also records `now` as the last use. Returns the updated record, or `None` if the session
    /// is unknown, expired or its verifier is different (another rotation won).
    async fn rotate_session(
        &self,
        id: &SessionId,
        current: &Verifier,
        next: Verifier,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>>;

    /// Deletes the session (and its index entries) if it exists and, when `expected` is given,
    /// its verifier matches. Returns what was deleted.
    async fn delete_session(
        &self,
        id: &SessionId,
        expected: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>>;

    /// Deletes every session of `user` except `except`. Returns the ids deleted.
    async fn delete_user_sessions(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>>;

    /// The user's sessions that are live at `now`, oldest first.
    async fn user_sessions(&self, user: &UserId, now: Timestamp) -> Result<Vec<SessionRecord>>;

    /// The user, if known.
    async fn user(&self, id: &UserId) -> Result<Option<User>>;

    /// Creates or changes a user. If the change leaves the user blocked, every session of the
    /// user is deleted in the same atomic step.
    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<UserUpdated>;

    /// Deletes up to `limit` sessions that are no longer live at `now`, with their index
    /// entries, and one-time tokens that have expired. Returns the deleted session records.
    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<SessionRecord>>;

    /// How many session records the store holds (live or awaiting the sweeper).
    async fn session_count(&self) -> Result<u64>;

    /// Stores a one-time token record (keyed by its hash).
    async fn insert_one_time(&self, record: OneTimeRecord) -> Result<()>;

    /// Deletes the one-time token with this hash and returns what it was, in one atomic step:
    /// of concurrent calls for one hash, at most one gets `Some`. Expired records may be
    /// returned; the engine judges them.
    async fn take_one_time(&self, hash: &[u8; 32]) -> Result<Option<OneTimeRecord>>;

    /// Adds an API key.
    async fn insert_api_key(&self, key: ApiKeyRecord) -> Result<()>;

    /// Every stored API key.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>>;

    /// Deletes an API key by id; whether it existed.
    async fn delete_api_key(&self, id: &str) -> Result<bool>;

    /// Publishes these public signing keys: each replaces any record with its `kid` (so a
    /// node can shorten a key's publication as well as extend it). Records whose `until` has
    /// passed at `now` may be deleted.
    async fn publish_keys(&self, keys: &[PublishedKey], now: Timestamp) -> Result<()>;

    /// Every published key whose `until` is after `now`, ordered by `kid`.
    async fn published_keys(&self, now: Timestamp) -> Result<Vec<PublishedKey>>;

    /// Checks the backend answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    /// Whether the backend deletes expired sessions by itself (Redis key expiry), so the
    /// periodic sweeper need not run. The conformance suite still calls
    /// [`Store::sweep_expired`] on every backend.
    fn expires_on_its_own(&self) -> bool {
        false
    }
}

/// Which sessions a new one pushes out: given the `(created_at, id)` of the user's live
/// sessions and the cap, the oldest ones beyond `cap - 1` (room is kept for the new one).
/// Every backend decides evictions with this one rule.
pub fn evictions(mut live: Vec<(Timestamp, SessionId)>, cap: u32) -> Vec<SessionId> {
    let keep = (cap.max(1) - 1) as usize;
    if live.len() <= keep {
        return Vec::new();
    }
    live.sort_unstable();
    let n = live.len() - keep;
    live.into_iter().take(n).map(|(_, id)| id).collect()
}

/// Whether a stored session is live at `now` (by its stored last use).
pub fn is_live(s: &SessionRecord, now: Timestamp) -> bool {
    s.liveness(s.last_seen_at, now) == crate::session::Liveness::Live
}

/// A shared store is a store: lets one backend sit behind several owners (the engine and the
/// shutdown path, say).
#[async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn create_session(
        &self,
        session: SessionRecord,
        limits: CreateLimits,
        now: Timestamp,
    ) -> Result<Created> {
        (**self).create_session(session, limits, now).await
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        (**self).session(id).await
    }

    async fn session_with_user(
        &self,
        id: &SessionId,
    ) -> Result<Option<(SessionRecord, Option<User>)>> {
        (**self).session_with_user(id).await
    }

    fn touch_session(&self, id: SessionId, last_seen: Timestamp) {
        (**self).touch_session(id, last_seen);
    }

    async fn rotate_session(
        &self,
        id: &SessionId,
        current: &Verifier,
        next: Verifier,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>> {
        (**self).rotate_session(id, current, next, now).await
    }

    async fn delete_session(
        &self,
        id: &SessionId,
        expected: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>> {
        (**self).delete_session(id, expected).await
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        (**self).delete_user_sessions(user, except).await
    }

    async fn user_sessions(&self, user: &UserId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        (**self).user_sessions(user, now).await
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>> {
        (**self).user(id).await
    }

    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<UserUpdated> {
        (**self).update_user(id, patch).await
    }

    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<SessionRecord>> {
        (**self).sweep_expired(now, limit).await
    }

    async fn session_count(&self) -> Result<u64> {
        (**self).session_count().await
    }

    async fn insert_one_time(&self, record: OneTimeRecord) -> Result<()> {
        (**self).insert_one_time(record).await
    }

    async fn take_one_time(&self, hash: &[u8; 32]) -> Result<Option<OneTimeRecord>> {
        (**self).take_one_time(hash).await
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> Result<()> {
        (**self).insert_api_key(key).await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        (**self).api_keys().await
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        (**self).delete_api_key(id).await
    }

    async fn publish_keys(&self, keys: &[PublishedKey], now: Timestamp) -> Result<()> {
        (**self).publish_keys(keys, now).await
    }

    async fn published_keys(&self, now: Timestamp) -> Result<Vec<PublishedKey>> {
        (**self).published_keys(now).await
    }

    async fn ping(&self) -> Result<()> {
        (**self).ping().await
    }

    fn expires_on_its_own(&self) -> bool {
        (**self).expires_on_its_own()
    }
}
