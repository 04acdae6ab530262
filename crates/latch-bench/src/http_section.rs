//! HTTP throughput of one node over a real loopback listener, driven by one Rust load generator
//! (keep-alive clients) in the same process and run: `POST /v1/sessions/validate` and
//! `GET /v1/forward-auth` on the real router, against an axum endpoint that reads the same
//! body and answers a constant.

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

/// One endpoint's throughput.
#[derive(Debug, Serialize)]
pub struct HttpRow {
    /// What was measured.
    pub name: String,
    /// Requests per second.
    pub rps: f64,
}

/// Requests per second, each endpoint measured the same way.
#[derive(Debug, Default, Serialize)]
pub struct HttpReport {
    /// The reference first (the axum no-op), then each Latch endpoint.
    pub rows: Vec<HttpRow>,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds per endpoint and round.
    pub seconds: f64,
    /// Interleaved rounds; each endpoint's figure is its median round.
    pub rounds: usize,
}

impl HttpReport {
    /// The no-op's requests per second.
    pub fn noop_rps(&self) -> f64 {
        self.rows.first().map_or(0.0, |r| r.rps)
    }
}

/// How an endpoint is called.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    /// `POST /v1/sessions/validate` with the token in the body and the API key.
    Validate,
    /// `GET /v1/forward-auth` with the token in the session cookie, no API key.
    ForwardAuth,
}

/// An endpoint to load: a label, a base URL, how to call it, and the token.
pub struct Target {
    /// For the report.
    pub name: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// What to send.
    pub call: Call,
    /// An active session token there.
    pub token: String,
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

/// Serves the real router of a node whose engine is `latch`.
pub async fn latch_node(latch: Arc<Latch>) -> Result<String, Error> {
    let state = AppState::new(
        latch,
        ApiKeys::new(ApiKeySet::from_config(&[KEY.to_owned()])?),
        None,
    );
    serve(latch_server::router(state)).await
}

/// Serves an axum handler that reads the body and answers a constant.
pub async fn noop_node() -> Result<String, Error> {
    let app = axum::Router::new().route(
        "/v1/sessions/validate",
        axum::routing::post(|body: axum::body::Bytes| async move {
            std::hint::black_box(body);
            ([("content-type", "application/json")], r#"{"active":true}"#)
        }),
    );
    serve(app).await
}

/// Requests per second of `t`, over `secs`.
async fn load(t: &Target, secs: f64) -> Result<f64, Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let req = match t.call {
            Call::Validate => client
                .post(format!("{}/v1/sessions/validate", t.base))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body(format!(r#"{{"token":"{}"}}"#, t.token)),
            Call::ForwardAuth => client
                .get(format!("{}/v1/forward-auth", t.base))
                .header("cookie", format!("__Host-latch={}", t.token)),
        }
        .build()?;
        let (client, done) = (client.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let req = req.try_clone().ok_or("the request body cannot be cloned")?;
                let r = client.execute(req).await?;
                if !r.status().is_success() {
                    return Err::<(), Error>(
                        format!("the endpoint answered {}", r.status()).into(),
                    );
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

/// Loads each target after a warm-up (connections, caches), in interleaved rounds so that
/// the machine's drift over the run affects every target alike, and keeps each target's
/// median round. The first target is the reference.
pub async fn run(targets: &[Target], quick: bool) -> Result<HttpReport, Error> {
    let (rounds, secs) = if quick { (1, 0.5) } else { (7, 1.0) };
    for t in targets {
        load(t, 0.1).await?;
    }
    let mut samples = vec![Vec::with_capacity(rounds); targets.len()];
    for _ in 0..rounds {
        for (t, s) in targets.iter().zip(&mut samples) {
            s.push(load(t, secs).await?);
        }
    }
    let rows = targets
        .iter()
        .zip(samples)
        .map(|(t, mut s)| {
            s.sort_by(f64::total_cmp);
            HttpRow {
                name: t.name.clone(),
                rps: s[s.len() / 2],
            }
        })
        .collect();
    Ok(HttpReport {
        rows,
        clients: CLIENTS,
        seconds: secs,
        rounds,
    })
}
