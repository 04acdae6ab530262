//! The store conformance suite against the in-memory store.

latch_store_tests::store_conformance!(async { (latch_store_memory::MemoryStore::new(), ()) });
