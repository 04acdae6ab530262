//! Latch's Redis store: many stateless Latch nodes over one Redis server, a Redis Cluster or
//! Valkey.
//!
//! # Data layout
//!
//! Every key of a user carries the user's shard as its hash tag, so a user's record, session
//! index and sessions sit in one cluster slot and every change that spans them is one Lua
//! script ([`scripts`]). A session id starts with the same shard, so a node finds the session
//! from the token alone.
//!
//! | key | type | content |
//! |---|---|---|
//! | `P:{shard}:s:<id after the shard>` | string | the session, packed (about 75 bytes); expires a grace period after it stops being live |
//! | `P:{shard}:x:<user id>` | sorted set | the user's sessions by creation time; expires with the last session |
//! | `P:{shard}:u:<user id>` | hash | roles, status, attributes, once set; never expires (a user with live sessions and no record has the default state) |
//! | `P:apikeys` | hash | API key id → name, SHA-256, time |
//! | `P:jwks` | hash | published signing key id → `until \t` public JWK; expires with the last key |
//! | `P:ot:<SHA-256 of the token>` | string | a one-time token's expiry, purpose and user; expires with it |
//!
//! Every write publishes what it invalidated on `P:inv` from inside its script; nodes subscribe
//! to it ([`feed`]) to keep their near-caches exact.

#![forbid(unsafe_code)]

mod codec;
pub mod conn;
pub mod feed;
pub mod replicas;
mod scripts;

use std::time::Duration;

use async_trait::async_trait;
use latch_core::session::SessionRecord;
use latch_core::store::{
    ApiKeyRecord, CreateLimits, Created, Result, Store, StoreError, UserUpdated,
};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Shard, Verifier};
use latch_core::user::{UserId, UserPatch, UserStatus};
use redis::AsyncCommands;

use crate::codec::corrupt;
use crate::conn::Conn;
pub use crate::conn::Target;
use crate::scripts::{
    CREATE, DELETE, DELETE_USER_SESSIONS, ROTATE, SESSION_WITH_USER, SWEEP_ONE, TOUCH, UPDATE_USER,
    USER_SESSIONS,
};

/// Tuning for the Redis store.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// Prefix of every key and channel, so several deployments can share a server. Default
    /// `latch`; must not contain `{` or `}`.
    pub prefix: String,
    /// How long a command may take before the store counts as unavailable. Default 1 s.
    pub timeout: Duration,
    /// Wait for replicas to acknowledge every write before answering. Default none (the
    /// primary's own durability, AOF, is what a write survives).
    pub replica_ack: Option<replicas::ReplicaAck>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "latch".into(),
            timeout: Duration::from_secs(1),
            replica_ack: None,
        }
    }
}

/// The Redis store.
#[derive(Clone)]
pub struct RedisStore {
    /// Commands go here (multiplexed, reconnecting).
    pub(crate) conn: Conn,
    /// Where the store lives, for the feed and the sweeper's scans.
    target: Target,
    /// Key and channel prefix.
    prefix: String,
    /// The invalidation channel, `P:inv`.
    channel: String,
    /// Command timeout, reused by the feed.
    pub(crate) timeout: Duration,
    /// Replica acknowledgement required for each write.
    replica_ack: Option<replicas::ReplicaAck>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Why the Redis store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not one Latch understands.
    #[error(transparent)]
    Url(#[from] conn::BadUrl),
    /// The prefix has a brace.
    #[error("the key prefix must not contain '{{' or '}}'")]
    Prefix,
    /// The server could not be reached.
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {}", e.kind_str()))
}

trait KindStr {
    fn kind_str(&self) -> String;
}

impl KindStr for redis::RedisError {
    // Server error texts can quote arguments; keep only the category and code.
    fn kind_str(&self) -> String {
        match self.code() {
            Some(code) => format!("{:?} ({code})", self.kind()),
            None => format!("{:?}", self.kind()),
        }
    }
}

impl RedisStore {
    /// Connects to the store at `url` (see [`Target::parse`]).
    ///
    /// # Errors
    /// [`ConnectError`] for a bad URL or prefix, or an unreachable server.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, ConnectError> {
        if options.prefix.contains(['{', '}']) {
            return Err(ConnectError::Prefix);
        }
        let target = Target::parse(url)?;
        let conn = Conn::open(&target, options.timeout).await?;
        let mut s = Self {
            conn,
            target,
            channel: format!("{}:inv", options.prefix),
            prefix: options.prefix,
            timeout: options.timeout,
            replica_ack: options.replica_ack,
        };
        let _: String = redis::cmd("PING")
            .query_async(&mut s.conn)
            .await
            .map_err(ConnectError::Redis)?;
        Ok(s)
    }

    /// The invalidation channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Where the store lives.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Stores `candidate` as the deployment's token key unless one is stored already; returns
    /// the key every node must use.
    ///
    /// # Errors
    /// [`StoreError`] if Redis is unreachable or holds a malformed key.
    pub async fn token_key(&self, candidate: [u8; 32]) -> Result<[u8; 32]> {
        let k = format!("{}:token-key", self.prefix);
        let mut c = self.conn.clone();
        let _: bool = c
            .set_nx(&k, candidate.as_slice())
            .await
            .map_err(unavailable)?;
        let v: Vec<u8> = c.get(&k).await.map_err(unavailable)?;
        v.try_into().map_err(|_| corrupt("token key"))
    }

    /// After a write to `key`'s slot: waits for the replicas, if configured.
    async fn acked(&self, key: &str) -> Result<()> {
        match self.replica_ack {
            Some(ack) => replicas::wait(&self.conn, ack, key.as_bytes()).await,
            None => Ok(()),
        }
    }

    fn base(&self, shard: Shard) -> String {
        format!("{}:{{{}}}:", self.prefix, shard.hex())
    }

    /// A session's key: the base of its shard, then the 32 hex digits after the shard.
    fn session_key(&self, id: &SessionId) -> String {
        format!("{}s:{}", self.base(id.shard()), member(id))
    }

    fn user_keys(&self, user: &UserId) -> (String, String, String) {
        let base = self.base(Shard::of(user));
        (
            format!("{base}u:{}", user.as_str()),
            format!("{base}x:{}", user.as_str()),
            base,
        )
    }

    fn one_time_key(&self, hash: &[u8; 32]) -> String {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:ot:{hex}", self.prefix)
    }

    fn jwks_key(&self) -> String {
        format!("{}:jwks", self.prefix)
    }

    fn api_keys_key(&self) -> String {
        format!("{}:apikeys", self.prefix)
    }

    fn ids(&self, raw: Vec<String>) -> Result<Vec<SessionId>> {
        raw.iter()
            .map(|s| s.parse().map_err(|_| corrupt("session id")))
            .collect()
    }
}

/// A session's index member and key suffix: its id without the shard.
fn member(id: &SessionId) -> String {
    let full = id.to_string();
    full.get(4..).unwrap_or_default().to_owned()
}

fn session_from(id: SessionId, value: Option<Vec<u8>>) -> Result<Option<SessionRecord>> {
    value.map(|v| codec::decode_session(id, &v)).transpose()
}

#[async_trait]
impl Store for RedisStore {
    async fn create_session(
        &self,
        s: SessionRecord,
        limits: CreateLimits,
        now: Timestamp,
    ) -> Result<Created> {
        let (user, index, base) = self.user_keys(&s.user_id);
        let out: Vec<String> = CREATE
            .key(&user)
            .key(index)
            .key(self.session_key(&s.id))
            .arg(base)
            .arg(s.id.shard().hex())
            .arg(member(&s.id))
            .arg(codec::encode_session(&s))
            .arg(s.created_at.as_millis())
            .arg(limits.max_sessions_per_user.max(1))
            .arg(now.as_millis())
            .arg(&self.channel)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.acked(&user).await?;
        match out.split_first() {
            Some((flag, evicted)) if flag == "1" => Ok(Created::Created {
                evicted: self.ids(evicted.to_vec())?,
            }),
            Some(_) => Ok(Created::UserBlocked),
            None => Err(corrupt("create reply")),
        }
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        let v: Option<Vec<u8>> = self
            .conn
            .clone()
            .get(self.session_key(id))
            .await
            .map_err(unavailable)?;
        session_from(*id, v)
    }

    async fn session_with_user(
        &self,
        id: &SessionId,
    ) -> Result<Option<(SessionRecord, Option<latch_core::user::User>)>> {
        let r: Option<(Vec<u8>, Vec<Option<String>>)> = SESSION_WITH_USER
            .key(self.session_key(id))
            .arg(self.base(id.shard()))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let Some((value, user)) = r else {
            return Ok(None);
        };
        let s = codec::decode_session(*id, &value)?;
        // The session exists, so its user is known: no record means the default state.
        let u = codec::user(&s.user_id, &user)?;
        Ok(Some((s, u)))
    }

    fn touch_session(&self, id: SessionId, last_seen: Timestamp) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (key, base, mut conn) = (
            self.session_key(&id),
            self.base(id.shard()),
            self.conn.clone(),
        );
        rt.spawn(async move {
            // Best effort: a lost refresh only makes the idle expiry a little earlier.
            let r: redis::RedisResult<i64> = TOUCH
                .key(key)
                .arg(base)
                .arg(last_seen.as_millis())
                .invoke_async(&mut conn)
                .await;
            if let Err(e) = r {
                tracing::debug!(error = %e.kind_str(), "session refresh not written");
            }
        });
    }

    async fn rotate_session(
        &self,
        id: &SessionId,
        current: &Verifier,
        next: Verifier,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>> {
        let key = self.session_key(id);
        let v: Option<Vec<u8>> = ROTATE
            .key(&key)
            .arg(current.as_bytes().as_slice())
            .arg(next.as_bytes().as_slice())
            .arg(now.as_millis())
            .arg(&self.channel)
            .arg(id.to_string())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.acked(&key).await?;
        session_from(*id, v)
    }

    async fn delete_session(
        &self,
        id: &SessionId,
        expected: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>> {
        let key = self.session_key(id);
        let v: Option<Vec<u8>> = DELETE
            .key(&key)
            .arg(self.base(id.shard()))
            .arg(expected.map_or(&[][..], |v| v.as_bytes().as_slice()))
            .arg(&self.channel)
            .arg(id.to_string())
            .arg(member(id))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.acked(&key).await?;
        session_from(*id, v)
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        let (_, index, base) = self.user_keys(user);
        let gone: Vec<String> = DELETE_USER_SESSIONS
            .key(&index)
            .arg(base)
            .arg(except.map(member).unwrap_or_default())
            .arg(&self.channel)
            .arg(Shard::of(user).hex())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.acked(&index).await?;
        self.ids(gone)
    }

    async fn user_sessions(&self, user: &UserId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        let (_, index, base) = self.user_keys(user);
        let flat: Vec<redis::Value> = USER_SESSIONS
            .key(index)
            .arg(base)
            .arg(now.as_millis())
            .arg(Shard::of(user).hex())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks(2) {
            let [id, value] = pair else {
                return Err(corrupt("session list reply"));
            };
            let id: String = redis::from_redis_value_ref(id).map_err(|_| corrupt("session id"))?;
            let value: Vec<u8> =
                redis::from_redis_value_ref(value).map_err(|_| corrupt("session value"))?;
            let id = id.parse().map_err(|_| corrupt("session id"))?;
            out.push(codec::decode_session(id, &value)?);
        }
        out.sort_by_key(|s| (s.created_at, s.id));
        Ok(out)
    }

    async fn user(&self, id: &UserId) -> Result<Option<latch_core::user::User>> {
        let (key, index, _) = self.user_keys(id);
        // Users are created by sessions without a record: one with live sessions is known.
        let (f, indexed): (Vec<Option<String>>, bool) = redis::pipe()
            .cmd("HMGET")
            .arg(key)
            .arg(&["r", "b", "a"])
            .cmd("EXISTS")
            .arg(index)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match codec::user(id, &f)? {
            Some(u) => Ok(Some(u)),
            None if indexed => Ok(Some(latch_core::user::User::new(id.clone()))),
            None => Ok(None),
        }
    }

    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<UserUpdated> {
        let (user, index, base) = self.user_keys(id);
        let roles = patch
            .roles()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .unwrap_or_default();
        let blocked = match patch.status() {
            Some(UserStatus::Blocked) => "1",
            Some(UserStatus::Active) => "0",
            None => "",
        };
        let attrs = patch
            .attributes()
            .map(|a| serde_json::Value::Object(a.clone()).to_string())
            .unwrap_or_default();
        let (before, after, gone): (Vec<Option<String>>, Vec<Option<String>>, Vec<String>) =
            UPDATE_USER
                .key(&user)
                .key(index)
                .arg(base)
                .arg(roles)
                .arg(blocked)
                .arg(attrs)
                .arg(&self.channel)
                .arg(id.as_str())
                .arg(Shard::of(id).hex())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
        self.acked(&user).await?;
        Ok(UserUpdated {
            before: codec::user(id, &before)?,
            after: codec::user(id, &after)?.ok_or_else(|| corrupt("user after update"))?,
            revoked: self.ids(gone)?,
        })
    }

    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<SessionRecord>> {
        let mut out = Vec::new();
        for key in sweep::session_keys(self).await? {
            if out.len() >= limit {
                break;
            }
            let Some(sid) = sweep::id_of(&key) else {
                continue;
            };
            let v: Option<Vec<u8>> = SWEEP_ONE
                .key(&key)
                .arg(self.base(sid.shard()))
                .arg(now.as_millis())
                .arg(sid.to_string())
                .arg(&self.channel)
                .arg(member(&sid))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(unavailable)?;
            out.extend(session_from(sid, v)?);
        }
        Ok(out)
    }

    async fn session_count(&self) -> Result<u64> {
        Ok(sweep::session_keys(self).await?.len() as u64)
    }

    async fn insert_one_time(&self, r: latch_core::one_time::OneTimeRecord) -> Result<()> {
        let key = self.one_time_key(&r.hash);
        let value = format!(
            "{}\t{}\t{}",
            r.expires_at.as_millis(),
            r.purpose.as_str(),
            r.user_id.as_str()
        );
        let at = r.expires_at.as_millis().saturating_add(scripts::GRACE_MS);
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("PXAT")
            .arg(at)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.acked(&key).await
    }

    async fn take_one_time(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<latch_core::one_time::OneTimeRecord>> {
        let key = self.one_time_key(hash);
        // GETDEL reads and deletes in one step: of two consumes, one gets the value.
        let v: Option<String> = redis::cmd("GETDEL")
            .arg(&key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.acked(&key).await?;
        v.map(|v| codec::one_time_in(*hash, &v)).transpose()
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> Result<()> {
        let _: i64 = self
            .conn
            .clone()
            .hset(self.api_keys_key(), &key.id, codec::api_key_out(&key))
            .await
            .map_err(unavailable)?;
        self.acked(&self.api_keys_key()).await
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let all: Vec<(String, String)> = self
            .conn
            .clone()
            .hgetall(self.api_keys_key())
            .await
            .map_err(unavailable)?;
        let mut out: Vec<_> = all
            .iter()
            .map(|(id, v)| codec::api_key_in(id, v))
            .collect::<Result<_>>()?;
        out.sort_by(|a: &ApiKeyRecord, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        let n: i64 = self
            .conn
            .clone()
            .hdel(self.api_keys_key(), id)
            .await
            .map_err(unavailable)?;
        self.acked(&self.api_keys_key()).await?;
        Ok(n > 0)
    }

    async fn publish_keys(
        &self,
        keys: &[latch_core::store::PublishedKey],
        now: Timestamp,
    ) -> Result<()> {
        let key = self.jwks_key();
        let mut inv = scripts::PUBLISH_KEYS.key(&key);
        inv.arg(now.as_millis());
        for k in keys {
            inv.arg(&k.kid)
                .arg(format!("{}\t{}", k.until.as_millis(), k.jwk));
        }
        let _: i64 = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        self.acked(&key).await
    }

    async fn published_keys(&self, now: Timestamp) -> Result<Vec<latch_core::store::PublishedKey>> {
        let all: Vec<(String, String)> = self
            .conn
            .clone()
            .hgetall(self.jwks_key())
            .await
            .map_err(unavailable)?;
        let mut out = Vec::with_capacity(all.len());
        for (kid, v) in all {
            let (until, jwk) = v.split_once('\t').ok_or_else(|| corrupt("published key"))?;
            let until =
                Timestamp::from_millis(until.parse().map_err(|_| corrupt("published key"))?);
            if until > now {
                out.push(latch_core::store::PublishedKey {
                    kid,
                    jwk: jwk.to_owned(),
                    until,
                });
            }
        }
        out.sort_by(|a, b| a.kid.cmp(&b.kid));
        Ok(out)
    }

    async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn expires_on_its_own(&self) -> bool {
        true
    }
}

mod sweep {
    //! Finding session keys: SCAN on every primary (the sweeper and the session count; Redis
    //! deletes expired keys by itself, so neither runs in the request path).

    use redis::AsyncCommands;

    use super::{RedisStore, Target, unavailable};
    use latch_core::store::Result;

    /// The session id behind a session key: the shard from the hash tag, then the suffix.
    pub(super) fn id_of(key: &str) -> Option<latch_core::token::SessionId> {
        let open = key.find('{')?;
        let close = open + key[open..].find('}')?;
        let shard = &key[open + 1..close];
        let suffix = key.rsplit(':').next()?;
        format!("{shard}{suffix}").parse().ok()
    }

    pub(super) async fn session_keys(store: &RedisStore) -> Result<Vec<String>> {
        let pattern = format!("{}:{{*}}:s:*", store.prefix);
        let mut keys = Vec::new();
        for url in primaries(store).await? {
            let client = redis::Client::open(url.as_str()).map_err(unavailable)?;
            let mut c = client
                .get_multiplexed_async_connection()
                .await
                .map_err(unavailable)?;
            let mut it: redis::AsyncIter<'_, String> =
                c.scan_match(&pattern).await.map_err(unavailable)?;
            while let Some(k) = it.next_item().await {
                keys.push(k.map_err(unavailable)?);
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The primaries to scan: the server itself, or every cluster primary.
    async fn primaries(store: &RedisStore) -> Result<Vec<String>> {
        match &store.target {
            Target::Single(url) => Ok(vec![url.clone()]),
            Target::Cluster(_) => {
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut store.conn.clone())
                    .await
                    .map_err(unavailable)?;
                Ok(nodes
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        let is_primary = f.get(2)?.split(',').any(|x| x == "master");
                        let addr = f.get(1)?.split('@').next()?;
                        is_primary.then(|| format!("redis://{addr}"))
                    })
                    .collect())
            }
        }
    }
}
