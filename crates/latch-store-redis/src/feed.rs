//! The invalidation feed: keeps a node's near-cache exact while other nodes write.
//!
//! Every write publishes what it changed on the store's channel from inside its script (see
//! [`crate::scripts`]). Each node holds one dedicated pub/sub connection and drops the named
//! session or user from its cache as each message arrives.
//!
//! The cache is trusted only while the feed is known to be healthy:
//!
//! - until the subscription is confirmed the cache is distrusted (empty, no hits, no fills);
//! - the node publishes a heartbeat of its own every [`FeedOptions::heartbeat`] and must
//!   *receive* it back within [`FeedOptions::bound`]; a connection that drops (`CLIENT KILL`,
//!   a restart, a failover) or goes silent (`CLIENT PAUSE`, `DEBUG SLEEP`, a partition) makes
//!   the node distrust its cache at once and answer from the store until it has resubscribed
//!   and seen its heartbeat again.
//!
//! So a node either hears every invalidation or does not answer from its cache: a revocation
//! is refused on every node within the feed's delivery time, and a node with a broken feed
//! fails closed to the store (and so to 503 if the store is unreachable too).
//!
//! Plain `PUBLISH` reaches every node of a Redis Cluster (the cluster bus forwards it), so one
//! subscription on any node hears the whole cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use latch_core::Latch;
use latch_core::user::UserId;
use metrics::{counter, gauge, histogram};
use tokio::task::JoinHandle;

use crate::{RedisStore, Target};

/// Timing of the feed's health check.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct FeedOptions {
    /// How often the node publishes its heartbeat. Default 200 ms.
    pub heartbeat: Duration,
    /// How long the node trusts its cache without hearing its own heartbeat back. Default 1 s:
    /// the longest a silently broken feed can leave a revoked session accepted.
    pub bound: Duration,
}

impl Default for FeedOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(200),
            bound: Duration::from_secs(1),
        }
    }
}

/// Whether the feed is healthy (and so the cache trusted), for readiness and metrics.
#[derive(Debug, Default)]
pub struct FeedHealth {
    healthy: AtomicBool,
}

impl FeedHealth {
    /// True while the subscription is live and heartbeats arrive within the bound.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn set(&self, v: bool) {
        self.healthy.store(v, Ordering::Release);
        gauge!("latch_feed_healthy").set(if v { 1.0 } else { 0.0 });
    }
}

/// A running feed; stops when dropped.
#[derive(Debug)]
pub struct Feed {
    task: JoinHandle<()>,
    health: Arc<FeedHealth>,
}

impl Feed {
    /// Starts the feed for `latch`'s cache. The cache is distrusted from this moment until the
    /// subscription is confirmed.
    pub fn spawn(store: &RedisStore, latch: Arc<Latch>, options: FeedOptions) -> Self {
        latch.cache().distrust();
        let health = Arc::new(FeedHealth::default());
        health.set(false);
        let task = tokio::spawn(run(store.clone(), latch, options, Arc::clone(&health)));
        Self { task, health }
    }

    /// The feed's health.
    pub fn health(&self) -> Arc<FeedHealth> {
        Arc::clone(&self.health)
    }

    /// Waits until the feed is healthy, up to `within`; whether it became healthy.
    pub async fn wait_healthy(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.health.is_healthy() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.health.is_healthy()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(store: RedisStore, latch: Arc<Latch>, options: FeedOptions, health: Arc<FeedHealth>) {
    let nonce = latch_core::token::random_bytes::<8>().map_or(0, u64::from_le_bytes);
    let mut backoff = Duration::from_millis(50);
    loop {
        match subscribe(&store).await {
            Ok(stream) => {
                backoff = Duration::from_millis(50);
                let why = listen(&store, &latch, options, &health, nonce, stream).await;
                tracing::warn!(
                    reason = why,
                    "invalidation feed lost: near-cache distrusted until it is back"
                );
            }
            Err(e) => {
                tracing::warn!(error = ?e.kind(), "invalidation feed cannot subscribe; retrying");
            }
        }
        health.set(false);
        latch.cache().distrust();
        counter!("latch_feed_reconnects_total").increment(1);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// A subscription on the first node of the target that answers.
async fn subscribe(store: &RedisStore) -> redis::RedisResult<redis::aio::PubSubStream> {
    let urls = match store.target() {
        Target::Single(u) => vec![u.clone()],
        Target::Cluster(nodes) => nodes.clone(),
    };
    let mut last = None;
    for url in urls {
        let attempt = async {
            let client = redis::Client::open(url.as_str())?;
            let mut ps = tokio::time::timeout(store.timeout, client.get_async_pubsub())
                .await
                .map_err(|_| io_timeout())??;
            tokio::time::timeout(store.timeout, ps.subscribe(store.channel()))
                .await
                .map_err(|_| io_timeout())??;
            Ok::<_, redis::RedisError>(ps.into_on_message())
        };
        match attempt.await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(io_timeout))
}

fn io_timeout() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "timed out",
    ))
}

/// Applies messages until the subscription drops or a heartbeat is overdue; says which.
async fn listen(
    store: &RedisStore,
    latch: &Latch,
    options: FeedOptions,
    health: &FeedHealth,
    nonce: u64,
    mut stream: redis::aio::PubSubStream,
) -> &'static str {
    let mine = format!("{nonce:016x}");
    let mut tick = tokio::time::interval(options.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return "connection closed" };
                if apply(latch, msg.get_payload_bytes(), &mine) {
                    heard = Instant::now();
                    if !health.is_healthy() {
                        // Subscribed and hearing ourselves: every later write reaches us.
                        latch.cache().trust();
                        health.set(true);
                        tracing::info!("invalidation feed healthy: near-cache trusted");
                    }
                }
            }
            _ = tick.tick() => {
                if heard.elapsed() > options.bound {
                    return "heartbeat overdue";
                }
                heartbeat(store, &mine);
            }
        }
    }
}

/// Publishes this node's heartbeat without waiting (a stalled server must not stall the loop).
fn heartbeat(store: &RedisStore, mine: &str) {
    let mut conn = store.conn.clone();
    let channel = store.channel().to_owned();
    let msg = format!("h:{}:{mine}", now_ms());
    let timeout = store.timeout;
    tokio::spawn(async move {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(msg);
        let _ = tokio::time::timeout(timeout, cmd.query_async::<i64>(&mut conn)).await;
    });
}

/// Applies one message; true if it is this node's own heartbeat.
fn apply(latch: &Latch, payload: &[u8], mine: &str) -> bool {
    let Ok(text) = std::str::from_utf8(payload) else {
        return false;
    };
    let mut parts = text.splitn(3, ':');
    let (Some(kind), Some(ms), Some(what)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    match kind {
        "s" => {
            if let Ok(id) = what.parse() {
                latch.cache().invalidate_session(&id);
                received(ms);
            }
            false
        }
        "u" => {
            if let Ok(id) = UserId::new(what) {
                latch.cache().invalidate_user(&id);
                received(ms);
            }
            false
        }
        "h" => what == mine,
        _ => false,
    }
}

fn received(published_ms: &str) {
    counter!("latch_invalidations_received_total").increment(1);
    if let Ok(ms) = published_ms.parse::<u64>() {
        let lag = now_ms().saturating_sub(ms) as f64 / 1000.0;
        histogram!("latch_invalidation_lag_seconds").record(lag);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
