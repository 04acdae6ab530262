//! The store conformance suite against a real standalone `redis-server`.

use latch_store_redis::{RedisOptions, RedisStore};
use latch_test_redis::RedisServer;

latch_store_tests::store_conformance!(async {
    let server = RedisServer::new();
    let store = RedisStore::connect(&server.url(), RedisOptions::default())
        .await
        .unwrap();
    (store, server)
});
