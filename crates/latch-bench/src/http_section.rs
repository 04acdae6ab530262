//! HTTP throughput of one node: `POST /v1/sessions/validate` on the real router over a real
//! loopback listener, with the near-cache and without it, against an axum endpoint that reads
//! the same body and answers a constant, driven by one Rust load generator (keep-alive clients)
//! in the same process and run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use latch_core::Latch;
use latch_core::api_key::ApiKeySet;
use latch_server::{ApiKeys, AppState};
use serde::Serialize;

type Error = Box<dyn std::error::Error + Send + Sync>;

const KEY: &str = "bench-api-key-0123456789abcdef0123456789";
/// Concurrent keep-alive clients.
pub const CLIENTS: usize = 32;

/// Requests per second, each configuration measured the same way.
#[derive(Debug, Serialize)]
pub struct HttpReport {
    /// An axum handler that reads the body and answers a constant.
    pub noop_rps: f64,
    /// Latch validate, sessions answered from the near-cache.
    pub cached_rps: f64,
    /// Latch validate, near-cache off: every validation reads Redis.
    pub uncached_rps: f64,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds per configuration.
    pub seconds: f64,
}

/// Serves `app` on a loopback port; its base URL.
async fn serve(app: axum::Router) -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// The router of a node whose engine is `latch`.
pub async fn latch_node(latch: Arc<Latch>) -> Result<String, Error> {
    let state = AppState::new(
        latch,
        ApiKeys::new(ApiKeySet::from_config(&[KEY.to_owned()])?),
        None,
    );
    serve(latch_server::router(state)).await
}

async fn noop_node() -> Result<String, Error> {
    let app = axum::Router::new().route(
        "/v1/sessions/validate",
        axum::routing::post(|body: axum::body::Bytes| async move {
            std::hint::black_box(body);
            ([("content-type", "application/json")], r#"{"active":true}"#)
        }),
    );
    serve(app).await
}

/// Requests per second of `POST {base}/v1/sessions/validate` with `token`, over `secs`.
async fn load(base: &str, token: &str, secs: f64) -> Result<f64, Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let url = format!("{base}/v1/sessions/validate");
    let body = format!(r#"{{"token":"{token}"}}"#);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, url, body, done) =
            (client.clone(), url.clone(), body.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                if !r.status().is_success() {
                    return Err::<(), Error>(format!("validate answered {}", r.status()).into());
                }
                let _ = r.bytes().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Measures the three configurations; `cached` has a healthy feed, `uncached` a cache that is
/// distrusted (no feed), and `token` is active on both.
pub async fn run(
    cached: Arc<Latch>,
    uncached: Arc<Latch>,
    token: &str,
    quick: bool,
) -> Result<HttpReport, Error> {
    let secs = if quick { 1.0 } else { 5.0 };
    let noop = noop_node().await?;
    let with = latch_node(cached).await?;
    let without = latch_node(uncached).await?;
    // Warm-up: connections, the cache.
    for base in [&noop, &with, &without] {
        load(base, token, 0.2).await?;
    }
    Ok(HttpReport {
        noop_rps: load(&noop, token, secs).await?,
        cached_rps: load(&with, token, secs).await?,
        uncached_rps: load(&without, token, secs).await?,
        clients: CLIENTS,
        seconds: secs,
    })
}
