//! The Redis measurements: a raw GET round trip, Redis sessions done the usual way (one GET of a
//! serialized session per request), a Latch validation that misses the near-cache, a warm one
//! on a node with a feed, the revocation and demotion lag between two nodes, and memory per
//! session. The bench starts its own `redis-server` (from `LATCH_REDIS_SERVER` or the PATH).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use latch_core::Latch;
use latch_core::Validation;
use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::store::Store;
use latch_core::time::SystemClock;
use latch_core::token::TokenKey;
use latch_core::user::{UserId, UserPatch};
use latch_store_redis::feed::{Feed, FeedOptions};
use latch_store_redis::{RedisOptions, RedisStore};
use latch_test_redis::RedisServer;
use redis::AsyncCommands;
use serde::Serialize;

use crate::measure::{self, Budget, Stats};
use crate::sections::new_session;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the Redis section measured.
#[derive(Debug, Serialize)]
pub struct RedisReport {
    /// One `GET` of a 200-byte value.
    pub get: Stats,
    /// Redis sessions the usual way: `GET` of a JSON session (user, roles, times) and decoding
    /// it, as express-session or a Spring Session Redis store do per request.
    pub usual: Stats,
    /// The usual way: from `DEL`'s answer to the first `GET` that finds nothing,
    /// microseconds (p50, p99).
    pub usual_revoke_us: (f64, f64),
    /// A validation whose session and user are not cached.
    pub miss: Stats,
    /// A validation answered from the near-cache of a node with a healthy feed.
    pub warm: Stats,
    /// Time from a revocation's answer on node A to node B's first refusal, in microseconds:
    /// (p50, p99, max) over `lag_trials` trials.
    pub lag_us: (f64, f64, f64),
    /// Time from a role removal's answer on node A to node B's first validation without the
    /// role, microseconds: (p50, p99, max) over `lag_trials` trials.
    pub demote_lag_us: (f64, f64, f64),
    /// Trials behind `lag_us` and `demote_lag_us`.
    pub lag_trials: usize,
    /// `used_memory` growth per session, with two sessions per user (user records and indexes
    /// included).
    pub bytes_per_session: f64,
    /// Sessions created for the memory figure.
    pub sessions: u64,
}

/// The server and two nodes on it, kept for the HTTP section: one whose cache the feed keeps,
/// and one whose cache is never trusted.
pub struct Nodes {
    _server: RedisServer,
    /// A node with a healthy feed.
    pub cached: Arc<Latch>,
    /// A node without a feed: every validation reads Redis.
    pub uncached: Arc<Latch>,
    _keep: Vec<Node>,
    /// An active token on both.
    pub token: String,
}

/// A typical serialized session of the usual Redis session store.
#[derive(serde::Deserialize, Serialize)]
struct UsualSession {
    user_id: String,
    roles: Vec<String>,
    email: String,
    created_at: u64,
    last_seen_at: u64,
    expires_at: u64,
    user_agent: String,
    ip: String,
}

pub(crate) struct Node {
    latch: Arc<Latch>,
    _feed: Option<Feed>,
}

async fn node(url: &str, key: &TokenKey, with_feed: bool) -> Result<Node, Error> {
    let store = RedisStore::connect(url, RedisOptions::default()).await?;
    let latch = Arc::new(Latch::new(
        Arc::new(store.clone()) as Arc<dyn Store>,
        key.clone(),
        Policy::default(),
        CacheConfig::default(),
        Arc::new(SystemClock),
    ));
    let feed = if with_feed {
        let f = Feed::spawn(&store, Arc::clone(&latch), FeedOptions::default());
        if !f.wait_healthy(Duration::from_secs(10)).await {
            return Err("the invalidation feed did not come up".into());
        }
        Some(f)
    } else {
        None
    };
    Ok(Node { latch, _feed: feed })
}

/// Runs the section; `None` if no `redis-server` can be started.
pub async fn run(budget: Budget, quick: bool) -> Result<Option<(RedisReport, Nodes)>, Error> {
    let bin = latch_test_redis::server_bin();
    if std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .is_err()
    {
        return Ok(None);
    }
    let server = tokio::task::spawn_blocking(RedisServer::new).await?;
    let url = server.url();
    let key = TokenKey::from_bytes(&TokenKey::generate_bytes()?);

    let client = redis::Client::open(url.as_str())?;
    let raw = client.get_multiplexed_async_connection().await?;
    let _: () = raw.clone().set("bench:get", vec![7u8; 200]).await?;
    let get = measure::future(budget, || {
        let mut c = raw.clone();
        async move {
            let v: redis::RedisResult<Vec<u8>> = c.get("bench:get").await;
            v.map(|v| v.len()).unwrap_or(0)
        }
    })
    .await;

    let usual_value = serde_json::to_vec(&UsualSession {
        user_id: "user-1842".into(),
        roles: vec!["member".into(), "billing:read".into()],
        email: "ada@example.com".into(),
        created_at: 1_800_000_000_000,
        last_seen_at: 1_800_000_000_000,
        expires_at: 1_800_028_800_000,
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into(),
        ip: "203.0.113.7".into(),
    })?;
    let _: () = raw.clone().set("sess:bench", &usual_value).await?;
    let usual = measure::future(budget, || {
        let mut c = raw.clone();
        async move {
            let v: redis::RedisResult<Option<Vec<u8>>> = c.get("sess:bench").await;
            v.ok()
                .flatten()
                .and_then(|v| serde_json::from_slice::<UsualSession>(&v).ok())
                .map(|s| s.roles.len())
        }
    })
    .await;
    let trials = if quick { 50 } else { 1000 };
    let usual_revoke_us = usual_revocation(&raw, &usual_value, trials).await?;

    let a = node(&url, &key, true).await?;
    let b = node(&url, &key, true).await?;
    let s = a
        .latch
        .create_session(new_session("bench-miss".into())?)
        .await?;
    let token = s.token.expose().to_owned();
    let (sid, uid) = (s.session.id, UserId::new("bench-miss")?);
    let miss = measure::future(budget, || {
        a.latch.cache().invalidate_session(&sid);
        a.latch.cache().invalidate_user(&uid);
        a.latch.validate(&token)
    })
    .await;
    assert!(b.latch.validate(&token).await?.is_active());
    let warm = measure::future(budget, || b.latch.validate(&token)).await;

    let lag_us = revocation_lag(&a, &b, trials).await?;
    let demote_lag_us = demotion_lag(&a, &b, trials).await?;
    let sessions = if quick { 20_000 } else { 1_000_000 };
    let bytes_per_session = memory_per_session(&raw, &a.latch, sessions).await?;

    // A node whose cache never becomes trusted (no feed): every validation reads Redis.
    let cold = node(&url, &key, false).await?;
    cold.latch.cache().distrust();
    let nodes = Nodes {
        _server: server,
        cached: Arc::clone(&b.latch),
        uncached: Arc::clone(&cold.latch),
        _keep: vec![a, b, cold],
        token,
    };
    Ok(Some((
        RedisReport {
            get,
            usual,
            usual_revoke_us,
            miss,
            warm,
            lag_us,
            demote_lag_us,
            lag_trials: trials,
            bytes_per_session,
            sessions,
        },
        nodes,
    )))
}

/// The usual way: delete the session key, then read it until it is gone.
async fn usual_revocation(
    raw: &redis::aio::MultiplexedConnection,
    value: &[u8],
    trials: usize,
) -> Result<(f64, f64), Error> {
    let mut lags = Vec::with_capacity(trials);
    let mut c = raw.clone();
    for i in 0..trials {
        let k = format!("sess:revoke:{i}");
        let _: () = c.set(&k, value).await?;
        let _: i64 = c.del(&k).await?;
        let start = Instant::now();
        loop {
            let v: Option<Vec<u8>> = c.get(&k).await?;
            if v.is_none() {
                break;
            }
        }
        lags.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(crate::sections::p50_p99(lags))
}

/// A role removed on node A: how long until node B validates the session without it.
async fn demotion_lag(a: &Node, b: &Node, trials: usize) -> Result<(f64, f64, f64), Error> {
    let member = UserPatch::new(Some(vec!["member".into()]), None, None)?;
    let none = UserPatch::new(Some(Vec::new()), None, None)?;
    let mut lags = Vec::with_capacity(trials);
    for i in 0..trials {
        let user = UserId::new(&format!("demote-{i}"))?;
        a.latch.update_user(&user, &member).await?;
        let s = a
            .latch
            .create_session(new_session(user.as_str().to_owned())?)
            .await?;
        let t = s.token.expose();
        // Warm B's cache with the role.
        for _ in 0..2 {
            let Validation::Active(v) = b.latch.validate(t).await? else {
                return Err("node B refused a fresh session".into());
            };
            assert!(v.user().has_role("member"));
        }
        a.latch.update_user(&user, &none).await?;
        let start = Instant::now();
        loop {
            match b.latch.validate(t).await? {
                Validation::Active(v) if v.user().has_role("member") => {}
                _ => break,
            }
            if start.elapsed() > Duration::from_secs(5) {
                return Err("node B kept a removed role for 5 s".into());
            }
            tokio::task::yield_now().await;
        }
        lags.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let [p50, p99, max] = measure::quantiles(lags, [0.5, 0.99, 1.0]);
    Ok((p50, p99, max))
}

async fn revocation_lag(a: &Node, b: &Node, trials: usize) -> Result<(f64, f64, f64), Error> {
    let mut lags = Vec::with_capacity(trials);
    for i in 0..trials {
        let s = a
            .latch
            .create_session(new_session(format!("lag-{i}"))?)
            .await?;
        let t = s.token.expose();
        // Warm B's cache: from now on B answers from memory until told otherwise.
        assert!(b.latch.validate(t).await?.is_active());
        assert!(b.latch.validate(t).await?.is_active());
        a.latch.revoke_token(t).await?;
        let start = Instant::now();
        loop {
            if !b.latch.validate(t).await?.is_active() {
                lags.push(start.elapsed().as_secs_f64() * 1e6);
                break;
            }
            if start.elapsed() > Duration::from_secs(5) {
                return Err("node B kept accepting a revoked session for 5 s".into());
            }
            tokio::task::yield_now().await;
        }
    }
    let [p50, p99, max] = measure::quantiles(lags, [0.5, 0.99, 1.0]);
    Ok((p50, p99, max))
}

async fn used_memory(c: &redis::aio::MultiplexedConnection) -> Result<u64, Error> {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut c.clone())
        .await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "INFO memory has no used_memory".into())
}

async fn memory_per_session(
    raw: &redis::aio::MultiplexedConnection,
    latch: &Arc<Latch>,
    n: u64,
) -> Result<f64, Error> {
    let before = used_memory(raw).await?;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (latch, next) = (Arc::clone(latch), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<(), Error>(());
                }
                // Two sessions per user, as a user with a laptop and a phone.
                latch
                    .create_session(new_session(format!("mem-user-{}", i / 2))?)
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let after = used_memory(raw).await?;
    Ok(after.saturating_sub(before) as f64 / n as f64)
}
