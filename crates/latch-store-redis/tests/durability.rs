//! Durability on Redis, with real servers: with `appendfsync always`, acknowledged writes
//! survive a `kill -9` of redis-server; with a replica acknowledgement (`WAIT`), an acknowledged
//! revocation survives a failover to the replica; with the replica gone, writes answer
//! "unavailable" instead of claiming a durability they do not have.
//!
//! (On loopback, asynchronous replication is fast enough that the failover test could pass
//! without `WAIT`; the replica-gone test is the one that fails if writes stop waiting.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use latch_core::store::Store;
use latch_core::user::{UserId, UserPatch, UserStatus};
use latch_store_redis::replicas::ReplicaAck;
use latch_store_redis::{RedisOptions, RedisStore};
use latch_store_tests::Harness;
use latch_test_redis::RedisServer;

async fn harness(url: &str, options: RedisOptions) -> Harness {
    let store = RedisStore::connect(url, options).await.unwrap();
    Harness::new(Arc::new(store) as Arc<dyn Store>)
}

async fn write_some(h: &Harness) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut kept, mut revoked, mut blocked) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..30 {
        let s = h.create(&format!("d-{}", i % 5), None, None).await;
        if i % 3 == 0 {
            h.latch.revoke_token(s.token.expose()).await.unwrap();
            revoked.push(s.token.expose().to_owned());
        } else if i % 5 == 4 {
            blocked.push(s.token.expose().to_owned());
        } else {
            kept.push(s.token.expose().to_owned());
        }
    }
    let block = UserPatch::new(None, Some(UserStatus::Blocked), None).unwrap();
    h.latch
        .update_user(&UserId::new("d-4").unwrap(), &block)
        .await
        .unwrap();
    (kept, revoked, blocked)
}

async fn check(h: &Harness, kept: &[String], revoked: &[String], blocked: &[String]) {
    for t in kept {
        assert!(
            h.latch.validate(t).await.unwrap().is_active(),
            "an acknowledged create was lost"
        );
    }
    for t in revoked.iter().chain(blocked) {
        assert!(
            !h.latch.validate(t).await.unwrap().is_active(),
            "an acknowledged revocation was lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aof_always_survives_kill_9_of_the_server() {
    let mut server = RedisServer::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let h = harness(&server.url(), RedisOptions::default()).await;
    let (kept, revoked, blocked) = write_some(&h).await;
    server.stop(); // SIGKILL
    server.restart();
    let h2 = harness(&server.url(), RedisOptions::default()).await;
    check(&h2, &kept, &revoked, &blocked).await;
}

fn replica_of(primary_port: u16) -> RedisServer {
    let port = primary_port.to_string();
    let r = RedisServer::with_args(&["--replicaof", "127.0.0.1", &port]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !r
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")
    {
        assert!(Instant::now() < deadline, "the replica did not sync");
        std::thread::sleep(Duration::from_millis(20));
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_acknowledged_writes_survive_a_failover() {
    let mut primary = RedisServer::new();
    let port = primary.port;
    let replica = tokio::task::spawn_blocking(move || replica_of(port))
        .await
        .unwrap();
    let mut opts = RedisOptions::default();
    opts.replica_ack = Some(ReplicaAck {
        replicas: 1,
        timeout: Duration::from_secs(2),
    });
    let h = harness(&primary.url(), opts.clone()).await;
    let (kept, revoked, blocked) = write_some(&h).await;
    // The primary dies without persistence; the replica takes over.
    primary.stop();
    replica.cli(&["REPLICAOF", "NO", "ONE"]);
    let h2 = harness(&replica.url(), RedisOptions::default()).await;
    check(&h2, &kept, &revoked, &blocked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_replica_writes_are_unavailable() {
    let primary = RedisServer::new();
    let port = primary.port;
    let mut replica = tokio::task::spawn_blocking(move || replica_of(port))
        .await
        .unwrap();
    let mut opts = RedisOptions::default();
    opts.replica_ack = Some(ReplicaAck {
        replicas: 1,
        timeout: Duration::from_millis(200),
    });
    let h = harness(&primary.url(), opts).await;
    h.create("w", None, None).await;
    replica.stop();
    let err = h
        .latch
        .create_session(latch_store_tests::new_session("w", None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, latch_core::Error::Store(_)), "{err:?}");
}
