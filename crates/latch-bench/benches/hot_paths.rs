//! criterion micro-benchmarks of the hot paths, each next to the JWT verification it replaces:
//! parsing a token and checking its tag, a near-cache lookup, a store read, a whole warm
//! validation. `cargo bench -p latch-bench --bench hot_paths`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::session::Device;
use latch_core::store::Store;
use latch_core::time::{Clock, SystemClock};
use latch_core::token::{ParsedToken, TokenKey};
use latch_core::user::UserId;
use latch_core::{Latch, NewSession};
use latch_store_redb::{RedbOptions, RedbStore};

fn engine(store: Arc<dyn Store>, key: &TokenKey) -> Arc<Latch> {
    Arc::new(Latch::new(
        store,
        key.clone(),
        Policy::default(),
        CacheConfig::default(),
        Arc::new(SystemClock),
    ))
}

fn hot_paths(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let redb = Arc::new(RedbStore::open(&dir.path().join("b.redb"), RedbOptions::default()).unwrap());
    let key = TokenKey::from_bytes(&TokenKey::generate_bytes().unwrap());
    let latch = engine(Arc::clone(&redb) as Arc<dyn Store>, &key);
    let issued = rt
        .block_on(latch.create_session(NewSession {
            user_id: UserId::new("bench").unwrap(),
            device: Device::default(),
            idle_timeout_s: None,
            absolute_timeout_s: None,
        }))
        .unwrap();
    let token = issued.token.expose().to_owned();
    let id = issued.session.id;
    assert!(rt.block_on(latch.validate(&token)).unwrap().is_active());
    let hs = latch_bench::jwt::hs256(SystemClock.now().as_millis() / 1000);

    let mut g = c.benchmark_group("hot_paths");
    g.bench_function("jwt_hs256_verify (reference)", |b| b.iter(|| black_box(hs.verify())));
    g.bench_function("token_parse", |b| {
        b.iter(|| black_box(ParsedToken::parse(black_box(&token)).is_ok()))
    });
    g.bench_function("token_parse_and_tag_check", |b| {
        b.iter(|| {
            let p = ParsedToken::parse(black_box(&token)).unwrap();
            black_box(key.check_tag(&p))
        })
    });
    g.bench_function("token_parse_forged", |b| {
        let mut forged = token.clone();
        forged.pop();
        forged.push('A');
        b.iter(|| {
            let ok = ParsedToken::parse(black_box(&forged)).is_ok_and(|p| key.check_tag(&p));
            black_box(ok)
        })
    });
    g.bench_function("near_cache_lookup", |b| {
        let now = SystemClock.now();
        b.iter(|| black_box(latch.cache().session(black_box(&id), now).is_some()))
    });
    g.bench_function("store_get_embedded", |b| {
        b.iter(|| black_box(rt.block_on(redb.session(black_box(&id))).unwrap().is_some()))
    });
    g.bench_function("validate_warm", |b| {
        b.iter(|| black_box(rt.block_on(latch.validate(black_box(&token))).unwrap().is_active()))
    });
    g.finish();
    rt.block_on(redb.close());
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
