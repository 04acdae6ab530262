//! The store conformance suite against the embedded redb store.

use latch_store_redb::{RedbOptions, RedbStore};

latch_store_tests::store_conformance!(async {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("latch.redb"), RedbOptions::default()).unwrap();
    (store, dir)
});
