//! The store conformance suite against a real 3-master Redis Cluster.

use latch_store_redis::{RedisOptions, RedisStore};
use latch_test_redis::RedisCluster;

latch_store_tests::store_conformance!(async {
    let cluster = tokio::task::spawn_blocking(RedisCluster::new)
        .await
        .unwrap();
    let store = RedisStore::connect(&cluster.url(), RedisOptions::default())
        .await
        .unwrap();
    (store, cluster)
});
