//! The in-process cases: JWT verification against Latch on the embedded store, service tokens,
//! how fast one node refuses a revoked or demoted session, HTTP throughput of one node, and
//! durable creates.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::service_token::{Ephemeral, Keyring, ServiceTokenPolicy, ServiceTokens};
use latch_core::session::Device;
use latch_core::store::Store;
use latch_core::time::{Clock, SystemClock};
use latch_core::token::TokenKey;
use latch_core::user::{UserId, UserPatch};
use latch_core::{Latch, NewSession, Validation};
use latch_store_redb::{RedbOptions, RedbStore};

use crate::http_section::{self, Call, Target};
use crate::jwt;
use crate::measure::{self, Budget};
use crate::report::{Group, Report, Row};

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

/// One validation: JWT verification (HS256, EdDSA, RS256) against Latch with a warm near-cache
/// and on a miss, on the embedded store.
pub async fn validation(r: &mut Report, budget: Budget) -> Result<(), Error> {
    let now = SystemClock.now().as_millis() / 1000;
    for (name, j) in [
        ("JWT HS256 verify (jsonwebtoken)", jwt::hs256(now)),
        ("JWT EdDSA verify (jsonwebtoken)", jwt::eddsa(now)),
        ("JWT RS256 verify (jsonwebtoken, 2048-bit)", jwt::rs256(now)),
    ] {
        let st = measure::sync(budget, || j.verify());
        r.push(Row::new(name, Group::Jwt, st, Some(j.token.len())));
    }

    let warm = embedded(CacheConfig::default())?;
    let s = warm
        .latch
        .create_session(new_session("bench-user".into())?)
        .await?;
    let token = s.token.expose().to_owned();
    assert!(warm.latch.validate(&token).await?.is_active());
    let st = measure::future(budget, || warm.latch.validate(&token)).await;
    r.push(Row::new(
        "Latch validate, warm near-cache",
        Group::Latch,
        st,
        Some(token.len()),
    ));

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
    let st = measure::future(budget, || cold.latch.validate(&cold_token)).await;
    r.push(Row::new(
        "Latch validate, cache miss (embedded store read)",
        Group::Latch,
        st,
        Some(token.len()),
    ));

    service_tokens(r, budget, &warm.latch, &token).await?;
    let trials = if budget.batches < 100 { 30 } else { 500 };
    r.one_node = Some(one_node_freshness(&warm.latch, trials).await?);
    warm.store.close().await;
    cold.store.close().await;
    Ok(())
}

/// Minting a service token from an active session, and verifying one with `latch-verify`.
async fn service_tokens(
    r: &mut Report,
    budget: Budget,
    latch: &Latch,
    token: &str,
) -> Result<(), Error> {
    let mut policy = ServiceTokenPolicy::default();
    policy.audiences.insert("billing".into());
    let now = latch.clock().now();
    let service = ServiceTokens::new(policy, Keyring::first(now)?, Arc::new(Ephemeral));
    let Validation::Active(active) = latch.validate(token).await? else {
        return Err("the bench session is not active".into());
    };
    let mint = measure::sync(budget, || service.mint(&active, "billing", now));
    let jwt = service.mint(&active, "billing", now)?.jwt;
    let keys =
        latch_verify::KeySet::from_keys(service.keyring().keys().iter().map(|k| k.verifying_key()));
    let verifier = latch_verify::Verifier::new(keys, "latch", "billing");
    let secs = now.as_millis() / 1000;
    verifier.verify(&jwt, secs)?;
    let verify = measure::sync(budget, || verifier.verify(&jwt, secs));
    let validate = measure::future(budget, || latch.validate(token)).await;
    let mint_from_session = measure::future(budget, || async {
        match latch.validate(token).await {
            Ok(Validation::Active(a)) => service.mint(&a, "billing", now).is_ok(),
            _ => false,
        }
    })
    .await;
    r.service_tokens = vec![
        Row::new(
            "validate the session (warm)",
            Group::Latch,
            validate,
            Some(token.len()),
        ),
        Row::new(
            "mint a service token (Ed25519 sign)",
            Group::Latch,
            mint,
            Some(jwt.len()),
        ),
        Row::new(
            "validate + mint (POST /v1/service-tokens without HTTP)",
            Group::Latch,
            mint_from_session,
            Some(jwt.len()),
        ),
        Row::new(
            "verify a service token (latch-verify)",
            Group::Latch,
            verify,
            Some(jwt.len()),
        ),
    ];
    Ok(())
}

/// How soon one node refuses a session it just revoked, and drops a role it just removed.
#[derive(Debug, serde::Serialize)]
pub struct OneNode {
    /// From `revoke_token`'s return to the first inactive validation, microseconds (p50, p99).
    pub revoke_us: (f64, f64),
    /// From the role change's return to the first validation without the role (p50, p99).
    pub demote_us: (f64, f64),
    /// Trials behind both.
    pub trials: usize,
}

async fn one_node_freshness(latch: &Latch, trials: usize) -> Result<OneNode, Error> {
    let mut revoke = Vec::with_capacity(trials);
    let mut demote = Vec::with_capacity(trials);
    let member = UserPatch::new(Some(vec!["member".into()]), None, None)?;
    let none = UserPatch::new(Some(Vec::new()), None, None)?;
    for i in 0..trials {
        let user = UserId::new(&format!("fresh-{i}"))?;
        latch.update_user(&user, &member).await?;
        let s = latch
            .create_session(new_session(user.as_str().to_owned())?)
            .await?;
        let t = s.token.expose();
        assert!(latch.validate(t).await?.is_active());
        latch.update_user(&user, &none).await?;
        let start = Instant::now();
        while matches!(latch.validate(t).await?, Validation::Active(a) if a.user().has_role("member"))
        {
        }
        demote.push(start.elapsed().as_secs_f64() * 1e6);
        latch.revoke_token(t).await?;
        let start = Instant::now();
        while latch.validate(t).await?.is_active() {}
        revoke.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(OneNode {
        revoke_us: p50_p99(revoke),
        demote_us: p50_p99(demote),
        trials,
    })
}

pub(crate) fn p50_p99(v: Vec<f64>) -> (f64, f64) {
    let [p50, p99] = measure::quantiles(v, [0.5, 0.99]);
    (p50, p99)
}

/// One node's requests per second over HTTP: the axum no-op, validate and forward-auth on the
/// embedded store, and whatever `more` adds (the Redis nodes).
pub async fn http(r: &mut Report, quick: bool, more: Vec<Target>) -> Result<(), Error> {
    let e = embedded(CacheConfig::default())?;
    let s = e
        .latch
        .create_session(new_session("bench-http".into())?)
        .await?;
    let token = s.token.expose().to_owned();
    let node = http_section::latch_node(Arc::clone(&e.latch)).await?;
    let mut targets = vec![
        Target {
            name: "axum no-op (reads the body, answers a constant)".into(),
            base: http_section::noop_node().await?,
            call: Call::Validate,
            token: token.clone(),
        },
        Target {
            name: "Latch POST /v1/sessions/validate, embedded store, near-cache".into(),
            base: node.clone(),
            call: Call::Validate,
            token: token.clone(),
        },
        Target {
            name: "Latch GET /v1/forward-auth (cookie), embedded store, near-cache".into(),
            base: node,
            call: Call::ForwardAuth,
            token,
        },
    ];
    targets.extend(more);
    r.http = http_section::run(&targets, quick).await?;
    e.store.close().await;
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
