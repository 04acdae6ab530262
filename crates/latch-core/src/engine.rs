//! The engine: sessions and users over a [`Store`], with the near-cache in front.
//!
//! Every write goes to the store first and invalidates the cache only after the store
//! acknowledged it; every read that misses the cache fills it under a ticket (see
//! [`crate::cache`]). A validation that hits the cache does no I/O, takes no lock beyond the
//! cache shard's read lock, and allocates nothing.

use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::audit::FailureBurst;
use crate::cache::{CacheConfig, CachedSession, CachedUser, NearCache};
use crate::metrics::EngineMetrics;
use crate::one_time::{self, NewOneTime, Purpose};
use crate::policy::{InvalidTimeout, Policy};
use crate::session::{Device, Liveness, SessionRecord};
use crate::store::{CreateLimits, Created, Store, StoreError};
use crate::time::{Clock, Timestamp};
use crate::token::{ParsedToken, RandomError, SessionId, SessionToken, Shard, TokenKey};
use crate::user::{User, UserId, UserPatch, UserStatus};
use crate::validation::{ActiveSession, Inactive, Validation};

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be reached: answer "unavailable", never "invalid".
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user is blocked and may not have sessions.
    #[error("the user is blocked")]
    UserBlocked,
    /// A requested timeout is out of bounds.
    #[error(transparent)]
    Timeout(#[from] InvalidTimeout),
    /// The OS random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// What creating a session needs.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Whose session.
    pub user_id: UserId,
    /// Where it is created from.
    pub device: Device,
    /// Requested idle timeout in seconds (default and cap from the policy).
    pub idle_timeout_s: Option<u64>,
    /// Requested absolute timeout in seconds (default and cap from the policy).
    pub absolute_timeout_s: Option<u64>,
}

/// A new token and the session it opens.
#[derive(Debug)]
pub struct IssuedSession {
    /// The token to hand to the client, once.
    pub token: SessionToken,
    /// The session record.
    pub session: SessionRecord,
}

/// A session as a validation found it, with its user when the same read brought it.
struct Loaded {
    session: Arc<CachedSession>,
    user: Option<Arc<CachedUser>>,
}

impl From<Arc<CachedSession>> for Loaded {
    fn from(session: Arc<CachedSession>) -> Self {
        Self {
            session,
            user: None,
        }
    }
}

/// The session engine.
pub struct Latch {
    /// Source of truth.
    store: Arc<dyn Store>,
    /// Every expiry decision reads this clock.
    clock: Arc<dyn Clock>,
    /// Checks and makes token tags; shared by every node on the store.
    key: TokenKey,
    /// Timeouts, caps and refresh cadence.
    policy: Policy,
    /// Validated sessions and users in this process.
    cache: NearCache,
    /// Pre-registered counters for the hot path.
    metrics: EngineMetrics,
    /// Notices bursts of failed validations for the audit log.
    failures: FailureBurst,
}

impl Latch {
    /// An engine over `store`, tagging tokens with `key`.
    pub fn new(
        store: Arc<dyn Store>,
        key: TokenKey,
        policy: Policy,
        cache: CacheConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            clock,
            key,
            policy,
            cache: NearCache::new(cache),
            metrics: EngineMetrics::register(),
            failures: FailureBurst::default(),
        }
    }

    /// The store behind the engine.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The near-cache (for the invalidation feed and for metrics).
    pub fn cache(&self) -> &NearCache {
        &self.cache
    }

    /// Creates a session and its token.
    ///
    /// # Errors
    /// [`Error::UserBlocked`], [`Error::Timeout`] for a zero timeout, [`Error::Store`].
    pub async fn create_session(&self, new: NewSession) -> Result<IssuedSession, Error> {
        let timeouts = self
            .policy
            .timeouts(new.idle_timeout_s, new.absolute_timeout_s)?;
        let issued = self
            .key
            .issue(SessionId::generate(Shard::of(&new.user_id))?)?;
        let now = self.clock.now();
        let record = SessionRecord {
            id: issued.id,
            user_id: new.user_id,
            verifier: issued.verifier,
            created_at: now,
            last_seen_at: now,
            idle_timeout_ms: crate::time::duration_ms(timeouts.idle),
            expires_at: now.saturating_add(timeouts.absolute),
            device: new.device,
        };
        let limits = CreateLimits {
            max_sessions_per_user: self.policy.max_sessions_per_user,
        };
        match self
            .store
            .create_session(record.clone(), limits, now)
            .await?
        {
            Created::UserBlocked => {
                info!(target: "latch::audit", event = "session.refused", user_id = ?record.user_id, reason = "user_blocked");
                Err(Error::UserBlocked)
            }
            Created::Created { evicted } => {
                for id in &evicted {
                    self.cache.invalidate_session(id);
                    info!(target: "latch::audit", event = "session.revoked", session_id = %id, user_id = ?record.user_id, reason = "session_cap");
                }
                info!(target: "latch::audit", event = "session.created", session_id = %record.id, user_id = ?record.user_id);
                Ok(IssuedSession {
                    token: issued.token,
                    session: record,
                })
            }
        }
    }

    /// Validates a token: the hot path.
    ///
    /// # Errors
    /// [`Error::Store`] when the answer needs the store and the store is unreachable; never
    /// for a bad token (that is [`Validation::Inactive`]).
    pub async fn validate(&self, token: &str) -> Result<Validation, Error> {
        let r = self.validate_inner(token).await;
        match &r {
            Ok(Validation::Active(_)) => self.metrics.active.increment(1),
            Ok(Validation::Inactive(why)) => {
                self.metrics.inactive(*why);
                let _ = self.failures.record(self.clock.now(), *why);
            }
            Err(_) => self.metrics.unavailable.increment(1),
        }
        r
    }

    async fn validate_inner(&self, token: &str) -> Result<Validation, Error> {
        let Ok(parsed) = ParsedToken::parse(token) else {
            return Ok(Validation::Inactive(Inactive::Malformed));
        };
        let now = self.clock.now();
        let cached = self.cache.session(parsed.id(), now);
        if cached.is_some() {
            self.metrics.session_hit.increment(1);
        } else {
            self.metrics.session_miss.increment(1);
        }
        let loaded = match cached {
            // A hit: compare the secret's hash and the tag with what was checked at fill.
            Some(e) if e.tag.ct_eq(parsed.tag()) && e.record.verifier.ct_eq(&parsed.verifier()) => {
                Loaded::from(e)
            }
            // A miss, or a hit that does not match (the session may have been rotated by
            // another node whose invalidation has not arrived): reject forgeries without I/O,
            // then ask the store.
            _ => {
                if !self.key.check_tag(&parsed) {
                    return Ok(Validation::Inactive(Inactive::Forged));
                }
                match self.load_session(&parsed, now).await? {
                    Ok(l) => l,
                    Err(why) => return Ok(Validation::Inactive(why)),
                }
            }
        };
        let loaded = match self.judge_liveness(loaded, &parsed, now).await? {
            Ok(l) => l,
            Err(why) => return Ok(Validation::Inactive(why)),
        };
        let user = match loaded.user {
            Some(u) => u,
            None => self.load_user(&loaded.session.record.user_id, now).await?,
        };
        if user.user.status == UserStatus::Blocked {
            return Ok(Validation::Inactive(Inactive::UserBlocked));
        }
        let entry = loaded.session;
        let last_seen = self.refresh(&entry, now);
        Ok(Validation::Active(ActiveSession {
            session: entry,
            last_seen,
            user,
        }))
    }

    /// Reads a session (and its user, in the same round trip where the store can) into the
    /// cache. The tag has been checked.
    async fn load_session(
        &self,
        parsed: &ParsedToken,
        now: Timestamp,
    ) -> Result<Result<Loaded, Inactive>, Error> {
        let ticket = self.cache.session_ticket(parsed.id());
        // The user is not known before the read, so its fill is guarded by a ticket over every
        // user: any user change in between and the user is used for this answer, not cached.
        let user_ticket = self.cache.any_user_ticket();
        let Some((record, user)) = self.store.session_with_user(parsed.id()).await? else {
            return Ok(Err(Inactive::Unknown));
        };
        if !record.verifier.ct_eq(&parsed.verifier()) {
            return Ok(Err(Inactive::WrongSecret));
        }
        let user = Arc::new(CachedUser::new(
            user.unwrap_or_else(|| User::new(record.user_id.clone())),
            now,
        ));
        if self.cache.user(&record.user_id, now).is_none() {
            self.cache.fill_any_user(user_ticket, Arc::clone(&user));
        }
        let entry = Arc::new(CachedSession::new(record, *parsed.tag(), now));
        self.cache.fill_session(ticket, Arc::clone(&entry));
        Ok(Ok(Loaded {
            session: entry,
            user: Some(user),
        }))
    }

    /// Checks both windows. A session idle-expired by this node's view is read again from the
    /// store first: another node may have recorded a more recent use.
    async fn judge_liveness(
        &self,
        loaded: Loaded,
        parsed: &ParsedToken,
        now: Timestamp,
    ) -> Result<Result<Loaded, Inactive>, Error> {
        let entry = &loaded.session;
        match entry.record.liveness(entry.last_seen(), now) {
            Liveness::Live => Ok(Ok(loaded)),
            Liveness::Expired => Ok(Err(Inactive::Expired)),
            Liveness::IdleExpired => {
                let fresh = match self.load_session(parsed, now).await? {
                    Ok(l) => l,
                    Err(why) => return Ok(Err(why)),
                };
                let e = &fresh.session;
                Ok(match e.record.liveness(e.last_seen(), now) {
                    Liveness::Live => Ok(fresh),
                    Liveness::IdleExpired => Err(Inactive::IdleExpired),
                    Liveness::Expired => Err(Inactive::Expired),
                })
            }
        }
    }

    async fn load_user(&self, id: &UserId, now: Timestamp) -> Result<Arc<CachedUser>, Error> {
        if let Some(u) = self.cache.user(id, now) {
            self.metrics.user_hit.increment(1);
            return Ok(u);
        }
        self.metrics.user_miss.increment(1);
        let ticket = self.cache.user_ticket(id);
        let user = self
            .store
            .user(id)
            .await?
            .unwrap_or_else(|| User::new(id.clone()));
        let entry = Arc::new(CachedUser::new(user, now));
        self.cache.fill_user(ticket, Arc::clone(&entry));
        Ok(entry)
    }

    /// Records the use in the store at most once per refresh interval; returns the last use
    /// the server now knows of.
    fn refresh(&self, entry: &CachedSession, now: Timestamp) -> Timestamp {
        let seen = entry.last_seen();
        let due = self.policy.refresh_after(entry.record.idle_timeout_ms);
        if now.millis_since(seen) >= due.max(1) && entry.claim_refresh(seen, now) {
            self.store.touch_session(entry.record.id, now);
            return now;
        }
        seen
    }

    /// Issues a new token for the session behind `token`; the old token stops working at once.
    /// `None` if `token` is not active (or another rotation of it won).
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Random`].
    pub async fn rotate(&self, token: &str) -> Result<Option<IssuedSession>, Error> {
        let Validation::Active(active) = self.validate(token).await? else {
            return Ok(None);
        };
        let Ok(parsed) = ParsedToken::parse(token) else {
            return Ok(None);
        };
        let id = active.record().id;
        let issued = self.key.issue(id)?;
        let now = self.clock.now();
        let rotated = self
            .store
            .rotate_session(&id, &parsed.verifier(), issued.verifier, now)
            .await?;
        self.cache.invalidate_session(&id);
        let Some(session) = rotated else {
            return Ok(None);
        };
        info!(target: "latch::audit", event = "session.rotated", session_id = %id, user_id = ?session.user_id);
        Ok(Some(IssuedSession {
            token: issued.token,
            session,
        }))
    }

    /// Logs out: revokes the session behind `token` if `token` is its current token. Doing
    /// nothing for a token that is not is not an error (logout is idempotent).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn revoke_token(&self, token: &str) -> Result<(), Error> {
        let Ok(parsed) = ParsedToken::parse(token) else {
            return Ok(());
        };
        if !self.key.check_tag(&parsed) {
            return Ok(());
        }
        let deleted = self
            .store
            .delete_session(parsed.id(), Some(&parsed.verifier()))
            .await?;
        self.cache.invalidate_session(parsed.id());
        if let Some(s) = deleted {
            info!(target: "latch::audit", event = "session.revoked", session_id = %s.id, user_id = ?s.user_id, reason = "logout");
        }
        Ok(())
    }

    /// Revokes a session by id; whether it existed.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn revoke_session(&self, id: &SessionId) -> Result<bool, Error> {
        let deleted = self.store.delete_session(id, None).await?;
        self.cache.invalidate_session(id);
        if let Some(s) = &deleted {
            info!(target: "latch::audit", event = "session.revoked", session_id = %s.id, user_id = ?s.user_id, reason = "by_id");
        }
        Ok(deleted.is_some())
    }

    /// The user's live sessions, oldest first.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn user_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, Error> {
        Ok(self.store.user_sessions(user, self.clock.now()).await?)
    }

    /// Revokes every session of `user` except `except`; how many were revoked.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn revoke_user_sessions(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<usize, Error> {
        let ids = self.store.delete_user_sessions(user, except).await?;
        for id in &ids {
            self.cache.invalidate_session(id);
        }
        info!(target: "latch::audit", event = "user.sessions_revoked", user_id = ?user, count = ids.len());
        Ok(ids.len())
    }

    /// The user, if known.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, Error> {
        Ok(self.store.user(id).await?)
    }

    /// Creates or changes a user; blocking revokes every session of the user.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<User, Error> {
        let up = self.store.update_user(id, patch).await?;
        for sid in &up.revoked {
            self.cache.invalidate_session(sid);
        }
        self.cache.invalidate_user(id);
        audit_user_change(&up.before, &up.after, up.revoked.len());
        Ok(up.after)
    }

    /// Deletes sessions that are past either timeout, in batches of `batch`; how many.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn sweep(&self, batch: usize) -> Result<usize, Error> {
        let mut total = 0;
        loop {
            let gone = self
                .store
                .sweep_expired(self.clock.now(), batch.max(1))
                .await?;
            for s in &gone {
                self.cache.invalidate_session(&s.id);
                info!(target: "latch::audit", event = "session.expired", session_id = %s.id, user_id = ?s.user_id);
            }
            total += gone.len();
            if gone.len() < batch.max(1) {
                return Ok(total);
            }
        }
    }

    /// Creates a one-time token for `user` and `purpose`, living `ttl_s` seconds (default and
    /// cap from the policy).
    ///
    /// # Errors
    /// [`Error::Timeout`] for zero, [`Error::Store`], [`Error::Random`].
    pub async fn create_one_time(
        &self,
        user: UserId,
        purpose: Purpose,
        ttl_s: Option<u64>,
    ) -> Result<NewOneTime, Error> {
        let ttl = self.policy.one_time_ttl(ttl_s)?;
        let new = one_time::generate(user, purpose, self.clock.now().saturating_add(ttl))?;
        self.store.insert_one_time(new.record.clone()).await?;
        info!(target: "latch::audit", event = "one_time.created", user_id = ?new.record.user_id, purpose = new.record.purpose.as_str());
        Ok(new)
    }

    /// Uses up a one-time token: its user if it was issued for `purpose` and has not expired or
    /// been used; `None` otherwise, without saying which. Any attempt on an existing token uses
    /// it up.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn consume_one_time(
        &self,
        token: &str,
        purpose: &Purpose,
    ) -> Result<Option<UserId>, Error> {
        let Some(hash) = one_time::lookup_hash(token) else {
            return Ok(None);
        };
        let Some(rec) = self.store.take_one_time(&hash).await? else {
            return Ok(None);
        };
        if rec.expires_at <= self.clock.now() || &rec.purpose != purpose {
            info!(target: "latch::audit", event = "one_time.refused", user_id = ?rec.user_id, purpose = purpose.as_str());
            return Ok(None);
        }
        info!(target: "latch::audit", event = "one_time.consumed", user_id = ?rec.user_id, purpose = purpose.as_str());
        Ok(Some(rec.user_id))
    }

    /// Creates and stores an API key named `name`; the key text is in the result, only once.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Random`].
    pub async fn create_api_key(&self, name: &str) -> Result<crate::api_key::NewApiKey, Error> {
        let new = crate::api_key::generate(name, self.clock.now())?;
        self.store.insert_api_key(new.record.clone()).await?;
        info!(target: "latch::audit", event = "api_key.created", key_id = %new.record.id, name = ?name);
        Ok(new)
    }

    /// Deletes a stored API key; whether it existed.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, Error> {
        let existed = self.store.delete_api_key(id).await?;
        if existed {
            info!(target: "latch::audit", event = "api_key.revoked", key_id = ?id);
        }
        Ok(existed)
    }

    /// How long after `last_seen` a session with this idle timeout is refreshed in the store.
    pub fn refresh_interval(&self, idle_timeout: Duration) -> Duration {
        Duration::from_millis(
            self.policy
                .refresh_after(crate::time::duration_ms(idle_timeout)),
        )
    }
}

fn audit_user_change(before: &Option<User>, after: &User, revoked: usize) {
    let was = before.as_ref().map(|u| u.status);
    if was != Some(after.status) {
        match after.status {
            UserStatus::Blocked => {
                info!(target: "latch::audit", event = "user.blocked", user_id = ?after.id, sessions_revoked = revoked);
            }
            UserStatus::Active if was.is_some() => {
                info!(target: "latch::audit", event = "user.unblocked", user_id = ?after.id);
            }
            UserStatus::Active => {}
        }
    }
    let old_roles = before.as_ref().map(|u| u.roles.as_slice()).unwrap_or(&[]);
    if old_roles != after.roles.as_slice() {
        info!(target: "latch::audit", event = "user.roles_changed", user_id = ?after.id, from = ?old_roles, to = ?after.roles);
    }
}

impl std::fmt::Debug for Latch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latch")
            .field("policy", &self.policy)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}
