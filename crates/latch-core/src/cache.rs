//! The near-cache: validated sessions and user states kept in this process, so a warm
//! validation costs a hash and two map lookups instead of a store round trip.
//!
//! Correctness rests on three rules:
//!
//! 1. **Invalidate after the write, and never let an older read land after it.** Every key has
//!    a generation (striped counters). A fill takes a [`Ticket`] before it reads the store and,
//!    after inserting, checks the generation again; if an invalidation happened in between, it
//!    removes what it inserted. An invalidation bumps the generation, then removes. Whatever
//!    the interleaving, a value read before a write cannot outlive that write's invalidation.
//! 2. **Fail closed when the feed is in doubt.** [`NearCache::distrust`] empties the cache and
//!    refuses hits and fills until [`NearCache::trust`] is called again (the store's
//!    invalidation feed is healthy).
//! 3. **Every entry has a maximum age**, the last bound if everything else failed.
//!
//! Unknown tokens are never cached: an attacker chooses those keys.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use quick_cache::UnitWeighter;
use quick_cache::sync::Cache;

use crate::session::SessionRecord;
use crate::time::Timestamp;
use crate::token::{SessionId, Tag};
use crate::user::{User, UserId};

const STRIPES: usize = 4096;

/// Sizes and bounds of the near-cache.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Sessions kept. Default 100 000.
    pub sessions: usize,
    /// User states kept. Default 100 000.
    pub users: usize,
    /// The oldest an entry may be before it is read again from the store, in milliseconds.
    /// Default 30 s.
    pub max_age_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            sessions: 100_000,
            users: 100_000,
            max_age_ms: 30_000,
        }
    }
}

/// A session as the cache holds it.
#[derive(Debug)]
pub struct CachedSession {
    /// The record as read from the store.
    pub record: SessionRecord,
    /// The tag of the token that was checked when this entry was filled; a hit must present
    /// the same tag, so the one genuine spelling of the token is the only one accepted.
    pub tag: Tag,
    /// The last use this node knows of (the stored value, or a newer one this node wrote).
    /// Atomic so that exactly one request per refresh interval claims the store write.
    last_seen: AtomicU64,
    /// When the entry was filled, for the maximum age.
    cached_at: Timestamp,
}

impl CachedSession {
    /// Wraps a record read from the store at `now`.
    pub fn new(record: SessionRecord, tag: Tag, now: Timestamp) -> Self {
        let last_seen = AtomicU64::new(record.last_seen_at.as_millis());
        Self {
            record,
            tag,
            last_seen,
            cached_at: now,
        }
    }

    /// The last use this node knows of.
    pub fn last_seen(&self) -> Timestamp {
        Timestamp::from_millis(self.last_seen.load(Ordering::Acquire))
    }

    /// Moves the last use from `seen` to `now`; true for the one caller that wins.
    pub fn claim_refresh(&self, seen: Timestamp, now: Timestamp) -> bool {
        self.last_seen
            .compare_exchange(
                seen.as_millis(),
                now.as_millis(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

/// A user state as the cache holds it.
#[derive(Debug)]
pub struct CachedUser {
    /// The user as read from the store.
    pub user: User,
    cached_at: Timestamp,
}

impl CachedUser {
    /// Wraps a user read from the store at `now`.
    pub fn new(user: User, now: Timestamp) -> Self {
        Self {
            user,
            cached_at: now,
        }
    }
}

/// Taken before a store read; proves at fill time that no invalidation came in between.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Ticket {
    generation: u64,
    epoch: u64,
}

/// The per-node cache of sessions and users.
pub struct NearCache {
    /// Validated session records by id.
    sessions: Cache<SessionId, Arc<CachedSession>, UnitWeighter, IdHasher>,
    /// User states by id.
    users: Cache<UserId, Arc<CachedUser>>,
    /// Generation per session-id stripe; bumped by every session invalidation.
    session_gens: Box<[AtomicU64]>,
    /// Generation per user-id stripe; bumped by every user invalidation.
    user_gens: Box<[AtomicU64]>,
    /// Bumped by every flush, so fills that straddle a flush are dropped.
    epoch: AtomicU64,
    /// Bumped by every user invalidation: guards user fills whose user was not known when the
    /// read began (a session read together with its user).
    user_changes: AtomicU64,
    /// False while the invalidation feed is in doubt: no hits, no fills.
    trusted: AtomicBool,
    /// Hasher for user-id stripes (user ids are chosen by applications, so keyed).
    stripe_hasher: std::collections::hash_map::RandomState,
    /// Maximum entry age in milliseconds.
    max_age_ms: u64,
}

impl NearCache {
    /// An empty cache, trusted.
    pub fn new(config: CacheConfig) -> Self {
        let stripes = || (0..STRIPES).map(|_| AtomicU64::new(0)).collect();
        Self {
            sessions: Cache::with(
                config.sessions.max(1),
                config.sessions.max(1) as u64,
                UnitWeighter,
                IdHasher::default(),
                Default::default(),
            ),
            users: Cache::new(config.users.max(1)),
            session_gens: stripes(),
            user_gens: stripes(),
            epoch: AtomicU64::new(0),
            user_changes: AtomicU64::new(0),
            trusted: AtomicBool::new(true),
            stripe_hasher: Default::default(),
            max_age_ms: config.max_age_ms,
        }
    }

    /// The cached session, if present, young enough, and the cache is trusted.
    pub fn session(&self, id: &SessionId, now: Timestamp) -> Option<Arc<CachedSession>> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let e = self.sessions.get(id)?;
        (now.millis_since(e.cached_at) < self.max_age_ms).then_some(e)
    }

    /// The cached user, if present, young enough, and the cache is trusted.
    pub fn user(&self, id: &UserId, now: Timestamp) -> Option<Arc<CachedUser>> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let e = self.users.get(id)?;
        (now.millis_since(e.cached_at) < self.max_age_ms).then_some(e)
    }

    /// Take before reading session `id` from the store.
    pub fn session_ticket(&self, id: &SessionId) -> Ticket {
        self.ticket(self.session_gen(id))
    }

    /// Take before reading user `id` from the store.
    pub fn user_ticket(&self, id: &UserId) -> Ticket {
        self.ticket(self.user_gen(id))
    }

    /// Take before a read that will return some user not known yet.
    pub fn any_user_ticket(&self) -> Ticket {
        self.ticket(&self.user_changes)
    }

    /// Caches a user read under a ticket from [`NearCache::any_user_ticket`], unless any user
    /// was invalidated since.
    pub fn fill_any_user(&self, ticket: Ticket, entry: Arc<CachedUser>) {
        let id = entry.user.id.clone();
        if !self.trusted.load(Ordering::Acquire) {
            return;
        }
        self.users.insert(id.clone(), entry);
        if !self.still_valid(ticket, &self.user_changes) {
            self.users.remove(&id);
        }
    }

    /// Caches a session read under `ticket`, unless it was invalidated since.
    pub fn fill_session(&self, ticket: Ticket, entry: Arc<CachedSession>) {
        let id = entry.record.id;
        if !self.trusted.load(Ordering::Acquire) {
            return;
        }
        self.sessions.insert(id, entry);
        if !self.still_valid(ticket, self.session_gen(&id)) {
            self.sessions.remove(&id);
        }
    }

    /// Caches a user read under `ticket`, unless it was invalidated since.
    pub fn fill_user(&self, ticket: Ticket, entry: Arc<CachedUser>) {
        let id = entry.user.id.clone();
        if !self.trusted.load(Ordering::Acquire) {
            return;
        }
        let gen_cell = self.user_gen(&id);
        self.users.insert(id.clone(), entry);
        if !self.still_valid(ticket, gen_cell) {
            self.users.remove(&id);
        }
    }

    /// Drops session `id`. Call after the store write that changed it has been acknowledged.
    pub fn invalidate_session(&self, id: &SessionId) {
        self.session_gen(id).fetch_add(1, Ordering::SeqCst);
        self.sessions.remove(id);
    }

    /// Drops user `id`. Call after the store write that changed it has been acknowledged.
    pub fn invalidate_user(&self, id: &UserId) {
        self.user_gen(id).fetch_add(1, Ordering::SeqCst);
        self.user_changes.fetch_add(1, Ordering::SeqCst);
        self.users.remove(id);
    }

    /// Drops everything and keeps answering from the store until [`NearCache::trust`].
    pub fn distrust(&self) {
        self.trusted.store(false, Ordering::SeqCst);
        self.flush();
    }

    /// Accepts hits and fills again (the invalidation feed is healthy).
    pub fn trust(&self) {
        // Flush again: anything that raced the distrust window is gone before trusting.
        self.flush();
        self.trusted.store(true, Ordering::SeqCst);
    }

    /// Whether the cache is answering.
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Drops every entry.
    pub fn flush(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.sessions.clear();
        self.users.clear();
    }

    /// Entries held: (sessions, users).
    pub fn len(&self) -> (usize, usize) {
        (self.sessions.len(), self.users.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.users.is_empty()
    }

    fn ticket(&self, gen_cell: &AtomicU64) -> Ticket {
        Ticket {
            generation: gen_cell.load(Ordering::SeqCst),
            epoch: self.epoch.load(Ordering::SeqCst),
        }
    }

    fn still_valid(&self, t: Ticket, gen_cell: &AtomicU64) -> bool {
        gen_cell.load(Ordering::SeqCst) == t.generation
            && self.epoch.load(Ordering::SeqCst) == t.epoch
    }

    fn session_gen(&self, id: &SessionId) -> &AtomicU64 {
        &self.session_gens[(id.hash64() as usize) % STRIPES]
    }

    fn user_gen(&self, id: &UserId) -> &AtomicU64 {
        let h = self.stripe_hasher.hash_one(id);
        &self.user_gens[(h as usize) % STRIPES]
    }
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, u) = self.len();
        f.debug_struct("NearCache")
            .field("sessions", &s)
            .field("users", &u)
            .field("trusted", &self.is_trusted())
            .finish()
    }
}

impl Hash for SessionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash64());
    }
}

/// Session ids are 128 random bits: their first 64 bits are already a perfect hash.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if something other than `SessionId` is hashed: fold the bytes in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for IdHasher {
    type Hasher = Self;

    fn build_hasher(&self) -> Self {
        Self(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Device;
    use crate::token::{TokenKey, Verifier};

    fn entry(id: SessionId, now: Timestamp) -> Arc<CachedSession> {
        let key = TokenKey::from_bytes(&[1; 32]);
        let t = key.issue(id).unwrap();
        Arc::new(CachedSession::new(
            SessionRecord {
                id,
                user_id: UserId::new("u").unwrap(),
                verifier: Verifier::from_bytes([0; 32]),
                created_at: now,
                last_seen_at: now,
                idle_timeout_ms: 1000,
                expires_at: now.saturating_add(std::time::Duration::from_secs(10)),
                device: Device::default(),
            },
            t.tag,
            now,
        ))
    }

    #[test]
    fn a_fill_that_straddles_an_invalidation_is_dropped() {
        let c = NearCache::new(CacheConfig::default());
        let now = Timestamp::from_millis(1);
        let id = SessionId::generate(crate::token::Shard::of(&UserId::new("u").unwrap())).unwrap();
        let ticket = c.session_ticket(&id);
        // The write and its invalidation land while the read is in flight.
        c.invalidate_session(&id);
        c.fill_session(ticket, entry(id, now));
        assert!(c.session(&id, now).is_none());
        // A fill with a fresh ticket sticks.
        c.fill_session(c.session_ticket(&id), entry(id, now));
        assert!(c.session(&id, now).is_some());
    }

    #[test]
    fn a_user_read_with_its_session_is_cached_only_if_no_user_changed() {
        let c = NearCache::new(CacheConfig::default());
        let now = Timestamp::from_millis(1);
        let u = UserId::new("u").unwrap();
        let user = || Arc::new(CachedUser::new(User::new(u.clone()), now));
        let t = c.any_user_ticket();
        c.invalidate_user(&UserId::new("someone-else").unwrap());
        c.fill_any_user(t, user());
        assert!(c.user(&u, now).is_none());
        c.fill_any_user(c.any_user_ticket(), user());
        assert!(c.user(&u, now).is_some());
    }

    #[test]
    fn a_fill_that_straddles_a_flush_is_dropped() {
        let c = NearCache::new(CacheConfig::default());
        let now = Timestamp::from_millis(1);
        let id = SessionId::generate(crate::token::Shard::of(&UserId::new("u").unwrap())).unwrap();
        let ticket = c.session_ticket(&id);
        c.flush();
        c.fill_session(ticket, entry(id, now));
        assert!(c.session(&id, now).is_none());
    }

    #[test]
    fn distrust_refuses_hits_and_fills_until_trusted() {
        let c = NearCache::new(CacheConfig::default());
        let now = Timestamp::from_millis(1);
        let id = SessionId::generate(crate::token::Shard::of(&UserId::new("u").unwrap())).unwrap();
        c.fill_session(c.session_ticket(&id), entry(id, now));
        c.distrust();
        assert!(c.session(&id, now).is_none());
        c.fill_session(c.session_ticket(&id), entry(id, now));
        c.trust();
        assert!(c.session(&id, now).is_none());
    }

    #[test]
    fn entries_expire_at_max_age() {
        let c = NearCache::new(CacheConfig {
            max_age_ms: 100,
            ..CacheConfig::default()
        });
        let t0 = Timestamp::from_millis(1000);
        let id = SessionId::generate(crate::token::Shard::of(&UserId::new("u").unwrap())).unwrap();
        c.fill_session(c.session_ticket(&id), entry(id, t0));
        assert!(c.session(&id, Timestamp::from_millis(1099)).is_some());
        assert!(c.session(&id, Timestamp::from_millis(1100)).is_none());
    }

    #[test]
    fn exactly_one_claims_a_refresh() {
        let now = Timestamp::from_millis(5);
        let e = entry(
            SessionId::generate(crate::token::Shard::of(&UserId::new("u").unwrap())).unwrap(),
            now,
        );
        let seen = e.last_seen();
        let later = Timestamp::from_millis(50);
        assert!(e.claim_refresh(seen, later));
        assert!(!e.claim_refresh(seen, later));
        assert_eq!(e.last_seen(), later);
    }
}
