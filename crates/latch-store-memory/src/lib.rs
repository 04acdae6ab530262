//! An in-memory Latch store. Same semantics as every other store (it passes the conformance
//! suite), nothing survives the process. For tests, examples and trying Latch out.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use latch_core::one_time::OneTimeRecord;
use latch_core::session::SessionRecord;
use latch_core::store::{
    ApiKeyRecord, CreateLimits, Created, PublishedKey, Result, Store, UserUpdated, evictions,
    is_live,
};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserPatch, UserStatus};

/// The in-memory store. One mutex: every operation is atomic by construction.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionId, SessionRecord>,
    by_user: HashMap<UserId, BTreeSet<SessionId>>,
    users: HashMap<UserId, User>,
    api_keys: BTreeMap<String, ApiKeyRecord>,
    one_time: HashMap<[u8; 32], OneTimeRecord>,
    published: BTreeMap<String, PublishedKey>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave half an operation behind: every
        // operation checks first and writes after, so the data is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn remove_session(&mut self, id: &SessionId) -> Option<SessionRecord> {
        let s = self.sessions.remove(id)?;
        if let Some(set) = self.by_user.get_mut(&s.user_id) {
            set.remove(id);
            if set.is_empty() {
                self.by_user.remove(&s.user_id);
            }
        }
        Some(s)
    }

    fn user_session_ids(&self, user: &UserId) -> Vec<SessionId> {
        self.by_user
            .get(user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_session(
        &self,
        session: SessionRecord,
        limits: CreateLimits,
        now: Timestamp,
    ) -> Result<Created> {
        let mut st = self.state();
        let user = st
            .users
            .entry(session.user_id.clone())
            .or_insert_with(|| User::new(session.user_id.clone()));
        if user.status == UserStatus::Blocked {
            return Ok(Created::UserBlocked);
        }
        let mut live = Vec::new();
        for id in st.user_session_ids(&session.user_id) {
            match st.sessions.get(&id) {
                Some(s) if is_live(s, now) => live.push((s.created_at, id)),
                _ => {
                    st.remove_session(&id);
                }
            }
        }
        let evicted = evictions(live, limits.max_sessions_per_user);
        for id in &evicted {
            st.remove_session(id);
        }
        st.by_user
            .entry(session.user_id.clone())
            .or_default()
            .insert(session.id);
        st.sessions.insert(session.id, session);
        Ok(Created::Created { evicted })
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        Ok(self.state().sessions.get(id).cloned())
    }

    fn touch_session(&self, id: SessionId, last_seen: Timestamp) {
        let mut st = self.state();
        if let Some(s) = st.sessions.get_mut(&id)
            && last_seen > s.last_seen_at
            && is_live(s, last_seen)
        {
            s.last_seen_at = last_seen;
        }
    }

    async fn rotate_session(
        &self,
        id: &SessionId,
        current: &Verifier,
        next: Verifier,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>> {
        let mut st = self.state();
        let Some(s) = st.sessions.get_mut(id) else {
            return Ok(None);
        };
        if !s.verifier.ct_eq(current) || !is_live(s, now) {
            return Ok(None);
        }
        s.verifier = next;
        s.last_seen_at = s.last_seen_at.max(now);
        Ok(Some(s.clone()))
    }

    async fn delete_session(
        &self,
        id: &SessionId,
        expected: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>> {
        let mut st = self.state();
        let matches = match (st.sessions.get(id), expected) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(s), Some(v)) => s.verifier.ct_eq(v),
        };
        Ok(if matches { st.remove_session(id) } else { None })
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        let mut st = self.state();
        let ids: Vec<_> = st
            .user_session_ids(user)
            .into_iter()
            .filter(|id| Some(id) != except)
            .collect();
        for id in &ids {
            st.remove_session(id);
        }
        Ok(ids)
    }

    async fn user_sessions(&self, user: &UserId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        let st = self.state();
        let mut out: Vec<_> = st
            .user_session_ids(user)
            .iter()
            .filter_map(|id| st.sessions.get(id))
            .filter(|s| is_live(s, now))
            .cloned()
            .collect();
        out.sort_by_key(|s| (s.created_at, s.id));
        Ok(out)
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>> {
        Ok(self.state().users.get(id).cloned())
    }

    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<UserUpdated> {
        let mut st = self.state();
        let before = st.users.get(id).cloned();
        let mut after = before.clone().unwrap_or_else(|| User::new(id.clone()));
        after.apply(patch);
        let revoked = if after.status == UserStatus::Blocked {
            let ids = st.user_session_ids(id);
            for sid in &ids {
                st.remove_session(sid);
            }
            ids
        } else {
            Vec::new()
        };
        st.users.insert(id.clone(), after.clone());
        Ok(UserUpdated {
            before,
            after,
            revoked,
        })
    }

    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<SessionRecord>> {
        let mut st = self.state();
        st.one_time.retain(|_, r| r.expires_at > now);
        let ids: Vec<_> = st
            .sessions
            .values()
            .filter(|s| !is_live(s, now))
            .take(limit)
            .map(|s| s.id)
            .collect();
        Ok(ids.iter().filter_map(|id| st.remove_session(id)).collect())
    }

    async fn session_count(&self) -> Result<u64> {
        Ok(self.state().sessions.len() as u64)
    }

    async fn insert_one_time(&self, record: OneTimeRecord) -> Result<()> {
        self.state().one_time.insert(record.hash, record);
        Ok(())
    }

    async fn take_one_time(&self, hash: &[u8; 32]) -> Result<Option<OneTimeRecord>> {
        Ok(self.state().one_time.remove(hash))
    }

    async fn publish_keys(&self, keys: &[PublishedKey], now: Timestamp) -> Result<()> {
        let mut st = self.state();
        for k in keys {
            st.published.insert(k.kid.clone(), k.clone());
        }
        st.published.retain(|_, k| k.until > now);
        Ok(())
    }

    async fn published_keys(&self, now: Timestamp) -> Result<Vec<PublishedKey>> {
        Ok(self
            .state()
            .published
            .values()
            .filter(|k| k.until > now)
            .cloned()
            .collect())
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> Result<()> {
        self.state().api_keys.insert(key.id.clone(), key);
        Ok(())
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        Ok(self.state().api_keys.values().cloned().collect())
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        Ok(self.state().api_keys.remove(id).is_some())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
