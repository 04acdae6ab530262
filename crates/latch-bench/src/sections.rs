//! The measured cases.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::session::Device;
use latch_core::store::Store;
use latch_core::time::{Clock, SystemClock};
use latch_core::token::TokenKey;
use latch_core::user::UserId;
use latch_core::{Latch, NewSession};
use latch_store_redb::{RedbOptions, RedbStore};

use crate::jwt;
use crate::measure::{self, Budget};
use crate::report::{Report, Row};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A Latch engine on a fresh embedded store in a temporary directory.
struct Embedded {
    latch: Arc<Latch>,
    store: Arc<RedbStore>,
    _dir: tempfile::TempDir,
}

fn embedded(cache: CacheConfig) -> Result<Embedded, Error> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(RedbStore::open(
        &dir.path().join("bench.redb"),
        RedbOptions::default(),
    )?);
    let latch = Arc::new(Latch::new(
        Arc::clone(&store) as Arc<dyn Store>,
        TokenKey::from_bytes(&TokenKey::generate_bytes()?),
        Policy::default(),
        cache,
        Arc::new(SystemClock),
    ));
    Ok(Embedded {
        latch,
        store,
        _dir: dir,
    })
}

pub(crate) fn new_session(user: String) -> Result<NewSession, Error> {
    Ok(NewSession {
        user_id: UserId::new(&user)?,
        device: Device::new(Some("bench/1.0".into()), "192.0.2.1".parse().ok())?,
        idle_timeout_s: None,
        absolute_timeout_s: None,
    })
}

/// One validation: JWT verification against Latch with a warm near-cache and on a miss.
pub async fn validation(r: &mut Report, budget: Budget) -> Result<(), Error> {
    let now = SystemClock.now().as_millis() / 1000;
    let hs = jwt::hs256(now);
    let ed = jwt::eddsa(now);
    let hs_stats = measure::sync(budget, || hs.verify());
    let ed_stats = measure::sync(budget, || ed.verify());

    let warm = embedded(CacheConfig::default())?;
    let s = warm
        .latch
        .create_session(new_session("bench-user".into())?)
        .await?;
    let token = s.token.expose().to_owned();
    assert!(warm.latch.validate(&token).await?.is_active());
    let warm_stats = measure::future(budget, || warm.latch.validate(&token)).await;

    // Maximum age zero: every validation misses and reads the session and the user from disk.
    let mut no_cache = CacheConfig::default();
    no_cache.max_age_ms = 0;
    let cold = embedded(no_cache)?;
    let s = cold
        .latch
        .create_session(new_session("bench-user".into())?)
        .await?;
    let cold_token = s.token.expose().to_owned();
    assert!(cold.latch.validate(&cold_token).await?.is_active());
    let cold_stats = measure::future(budget, || cold.latch.validate(&cold_token)).await;
    warm.store.close().await;
    cold.store.close().await;

    let base = hs_stats.median_ns;
    r.validation = vec![
        Row::new(
            "JWT HS256 verify (jsonwebtoken)",
            hs_stats,
            base,
            hs.token.len(),
        ),
        Row::new(
            "JWT EdDSA verify (jsonwebtoken)",
            ed_stats,
            base,
            ed.token.len(),
        ),
        Row::new(
            "Latch validate, warm near-cache",
            warm_stats,
            base,
            token.len(),
        ),
        Row::new(
            "Latch validate, cache miss (embedded store read)",
            cold_stats,
            base,
            token.len(),
        ),
    ];
    Ok(())
}

/// Durable session creation on the embedded store with 1 and 64 concurrent clients.
pub async fn creates(r: &mut Report, quick: bool) -> Result<(), Error> {
    let secs = if quick { 1 } else { 10 };
    for clients in [1usize, 64] {
        let e = embedded(CacheConfig::default())?;
        let done = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (latch, done) = (Arc::clone(&e.latch), Arc::clone(&done));
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let req = new_session(format!("bench-{c}-{}", i % 50))?;
                    latch.create_session(req).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                Ok::<(), Error>(())
            }));
        }
        let start = Instant::now();
        for t in tasks {
            t.await??;
        }
        let per_s = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
        e.store.close().await;
        r.creates.push((clients, per_s));
    }
    Ok(())
}
