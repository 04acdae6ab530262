//! Several Latch nodes on one Redis (and on a cluster), each with its own connections, cache and
//! invalidation feed, against real servers: what one node changes, the others see; a feed that
//! drops or stalls makes its node stop answering from its cache; an outage is "unavailable",
//! never "inactive".

use std::sync::Arc;
use std::time::{Duration, Instant};

use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::session::Device;
use latch_core::store::Store;
use latch_core::time::SystemClock;
use latch_core::token::TokenKey;
use latch_core::user::{UserId, UserPatch, UserStatus};
use latch_core::{Latch, NewSession, Validation};
use latch_store_redis::feed::{Feed, FeedOptions};
use latch_store_redis::{RedisOptions, RedisStore};
use latch_test_redis::{RedisCluster, RedisServer};

struct Node {
    latch: Arc<Latch>,
    feed: Feed,
}

async fn node(url: &str) -> Node {
    let store = RedisStore::connect(url, RedisOptions::default())
        .await
        .unwrap();
    let latch = Arc::new(Latch::new(
        Arc::new(store.clone()) as Arc<dyn Store>,
        TokenKey::from_bytes(&[5; 32]),
        Policy::default(),
        CacheConfig::default(),
        Arc::new(SystemClock),
    ));
    let feed = Feed::spawn(&store, Arc::clone(&latch), FeedOptions::default());
    assert!(
        feed.wait_healthy(Duration::from_secs(10)).await,
        "feed did not come up"
    );
    Node { latch, feed }
}

fn new_session(user: &str) -> NewSession {
    NewSession {
        user_id: UserId::new(user).unwrap(),
        device: Device::default(),
        idle_timeout_s: None,
        absolute_timeout_s: None,
    }
}

async fn active(n: &Node, token: &str) -> bool {
    n.latch.validate(token).await.unwrap().is_active()
}

/// Polls until `f` holds, for at most `limit` (a liveness bound, far above the expected
/// milliseconds; never a timing assertion).
async fn eventually<F: AsyncFnMut() -> bool>(limit: Duration, mut f: F) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    f().await
}

async fn changes_reach_every_node(url: &str) {
    let (a, b, c) = (node(url).await, node(url).await, node(url).await);
    let s = a.latch.create_session(new_session("ada")).await.unwrap();
    let t = s.token.expose();
    for n in [&a, &b, &c] {
        assert!(active(n, t).await);
    }
    // Warm caches: the next validations on B and C are cache hits.
    assert!(active(&b, t).await && active(&c, t).await);
    assert_eq!(b.latch.cache().len().0, 1);

    // A role change on A shows on B and C.
    let roles = UserPatch::new(Some(vec!["admin".into()]), None, None).unwrap();
    a.latch
        .update_user(&UserId::new("ada").unwrap(), &roles)
        .await
        .unwrap();
    for n in [&b, &c] {
        assert!(
            eventually(Duration::from_secs(5), async || {
                match n.latch.validate(t).await.unwrap() {
                    Validation::Active(x) => x.user().roles == ["admin"],
                    Validation::Inactive(_) => false,
                }
            })
            .await
        );
    }

    // A revocation on A is refused on B and C.
    a.latch.revoke_token(t).await.unwrap();
    for n in [&b, &c] {
        assert!(eventually(Duration::from_secs(5), async || !active(n, t).await).await);
    }

    // Blocking on C ends a session validated on A and B.
    let s2 = a.latch.create_session(new_session("bob")).await.unwrap();
    let t2 = s2.token.expose();
    assert!(active(&a, t2).await && active(&b, t2).await);
    let block = UserPatch::new(None, Some(UserStatus::Blocked), None).unwrap();
    c.latch
        .update_user(&UserId::new("bob").unwrap(), &block)
        .await
        .unwrap();
    for n in [&a, &b] {
        assert!(eventually(Duration::from_secs(5), async || !active(n, t2).await).await);
    }
    assert!(a.feed.health().is_healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_reach_every_node_on_one_server() {
    let server = RedisServer::new();
    changes_reach_every_node(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_reach_every_node_on_a_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::new)
        .await
        .unwrap();
    changes_reach_every_node(&cluster.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_feed_flushes_and_answers_from_the_store_until_back() {
    let server = RedisServer::new();
    let (a, b) = (node(&server.url()).await, node(&server.url()).await);
    let s = a.latch.create_session(new_session("kim")).await.unwrap();
    let t = s.token.expose();
    assert!(active(&b, t).await && active(&b, t).await);
    server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert!(
        eventually(Duration::from_secs(5), async || !b
            .feed
            .health()
            .is_healthy())
        .await
    );
    // B cannot hear this revocation; it must not answer from its cache.
    a.latch.revoke_token(t).await.unwrap();
    assert!(!active(&b, t).await);
    // The feed comes back by itself, and B hears revocations again.
    assert!(b.feed.wait_healthy(Duration::from_secs(10)).await);
    let s2 = a.latch.create_session(new_session("kim")).await.unwrap();
    let t2 = s2.token.expose();
    assert!(active(&b, t2).await && active(&b, t2).await);
    a.latch.revoke_token(t2).await.unwrap();
    assert!(eventually(Duration::from_secs(5), async || !active(&b, t2).await).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_feed_is_distrusted_within_its_bound() {
    let server = RedisServer::new();
    let b = node(&server.url()).await;
    let s = b.latch.create_session(new_session("sam")).await.unwrap();
    let t = s.token.expose().to_owned();
    assert!(active(&b, &t).await);
    // Stall the server: the connection stays open but nothing moves (no heartbeat comes back).
    server.cli(&["CLIENT", "PAUSE", "3000", "ALL"]);
    assert!(
        eventually(Duration::from_secs(5), async || !b
            .feed
            .health()
            .is_healthy())
        .await
    );
    // Distrusted: B must not answer from its cache; the store is stalled, so: unavailable.
    let v = b.latch.validate(&t).await;
    assert!(v.is_err(), "a node with a silent feed answered {v:?}");
    assert!(b.feed.wait_healthy(Duration::from_secs(10)).await);
    assert!(active(&b, &t).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_is_unavailable_not_inactive_and_nodes_recover() {
    let mut server = RedisServer::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let (a, b) = (node(&server.url()).await, node(&server.url()).await);
    let s = a.latch.create_session(new_session("oli")).await.unwrap();
    let t = s.token.expose().to_owned();
    assert!(active(&b, &t).await && active(&b, &t).await);
    server.stop();
    assert!(
        eventually(Duration::from_secs(5), async || !b
            .feed
            .health()
            .is_healthy())
        .await
    );
    for n in [&a, &b] {
        // Never "inactive" (no mass logout) and never a cached "active".
        assert!(n.latch.validate(&t).await.is_err());
        assert!(n.latch.create_session(new_session("oli")).await.is_err());
    }
    // A forged token needs no store.
    assert!(!b.latch.validate("latch_s_nope").await.unwrap().is_active());
    server.restart();
    assert!(b.feed.wait_healthy(Duration::from_secs(15)).await);
    assert!(
        eventually(
            Duration::from_secs(10),
            async || matches!(a.latch.validate(&t).await, Ok(v) if v.is_active())
        )
        .await
    );
    assert!(active(&b, &t).await);
}
