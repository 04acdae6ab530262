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

const KEY: &str = "bench-api-key-0123456789abcdef0123456789";

async fn oneshot(router: &axum::Router, body: &str) -> usize {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::post("/v1/sessions/validate")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    let r = router.clone().oneshot(req).await.unwrap();
    r.into_body().collect().await.unwrap().to_bytes().len()
}

fn hot_paths(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let redb =
        Arc::new(RedbStore::open(&dir.path().join("b.redb"), RedbOptions::default()).unwrap());
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
    g.bench_function("jwt_hs256_verify (reference)", |b| {
        b.iter(|| black_box(hs.verify()))
    });
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
    g.bench_function("validate_answer_json", |b| {
        let latch_core::Validation::Active(a) = rt.block_on(latch.validate(&token)).unwrap() else {
            panic!("inactive")
        };
        b.iter(|| {
            let v = latch_server::views::ValidationView {
                active: true,
                session: Some(latch_server::views::SessionView::of_active(&a)),
                user: Some(latch_server::views::UserView::of(a.user())),
            };
            black_box(serde_json::to_vec(&v).unwrap().len())
        })
    });
    g.bench_function("validate_answer_json_borrowed", |b| {
        let latch_core::Validation::Active(a) = rt.block_on(latch.validate(&token)).unwrap() else {
            panic!("inactive")
        };
        b.iter(|| {
            let v = latch_server::views::ValidationAnswer(Some(&a));
            black_box(serde_json::to_vec(&v).unwrap().len())
        })
    });
    // The whole route without a network: request in, response body out.
    let state = latch_server::AppState::new(
        Arc::clone(&latch),
        latch_server::ApiKeys::new(
            latch_core::api_key::ApiKeySet::from_config(&[KEY.to_owned()]).unwrap(),
        ),
        None,
    );
    let router = latch_server::router(state);
    let body = format!(r#"{{"token":"{token}"}}"#);
    g.bench_function("router_validate_oneshot", |b| {
        b.iter(|| black_box(rt.block_on(oneshot(&router, &body))))
    });
    let noop = axum::Router::new().route(
        "/v1/sessions/validate",
        axum::routing::post(|body: axum::body::Bytes| async move {
            black_box(body);
            ([("content-type", "application/json")], r#"{"active":true}"#)
        }),
    );
    g.bench_function("router_noop_oneshot (reference)", |b| {
        b.iter(|| black_box(rt.block_on(oneshot(&noop, &body))))
    });
    g.bench_function("validate_warm", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(latch.validate(black_box(&token)))
                    .unwrap()
                    .is_active(),
            )
        })
    });
    g.finish();
    rt.block_on(redb.close());
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
