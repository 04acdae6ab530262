//! `sessions-demo`: an axum app with Latch embedded.
//!
//! ```sh
//! cargo run -p sessions-demo                                   # embedded store in ./demo-data
//! LATCH_STORE=redis://127.0.0.1:6379 cargo run -p sessions-demo  # sessions on Redis
//! ```
//!
//! Then open http://localhost:3000 (browsers keep `Secure` cookies on localhost).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use latch_axum::LatchLayer;
use latch_core::Latch;
use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use latch_core::store::Store;
use latch_core::time::SystemClock;
use latch_core::token::TokenKey;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let listen: SocketAddr = std::env::var("DEMO_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()
        .context("DEMO_LISTEN must be HOST:PORT")?;
    let (store, key, redis) = open_store().await?;
    let latch = Arc::new(Latch::new(
        store,
        key,
        Policy::default(),
        CacheConfig::default(),
        Arc::new(SystemClock),
    ));
    // On Redis the near-cache needs the invalidation feed; until it is up, the cache is not
    // trusted and every validation reads the store.
    let _feed = redis
        .map(|r| latch_store_redis::feed::Feed::spawn(&r, Arc::clone(&latch), Default::default()));
    let app = sessions_demo::app().layer(LatchLayer::new(latch));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("sessions demo on http://localhost:{}", listen.port());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// The embedded store in `DEMO_DATA_DIR` (default `./demo-data`), or Redis at `LATCH_STORE`.
async fn open_store() -> Result<(
    Arc<dyn Store>,
    TokenKey,
    Option<latch_store_redis::RedisStore>,
)> {
    if let Ok(url) = std::env::var("LATCH_STORE") {
        let store = latch_store_redis::RedisStore::connect(&url, Default::default())
            .await
            .with_context(|| format!("cannot use the store at {url}"))?;
        let key = store.token_key(TokenKey::generate_bytes()?).await?;
        return Ok((
            Arc::new(store.clone()),
            TokenKey::from_bytes(&key),
            Some(store),
        ));
    }
    let dir = std::path::PathBuf::from(
        std::env::var("DEMO_DATA_DIR").unwrap_or_else(|_| "demo-data".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let key_file = dir.join("token.key");
    let key = match std::fs::read(&key_file) {
        Ok(b) => <[u8; 32]>::try_from(b.as_slice()).context("token.key is damaged")?,
        Err(_) => {
            let b = TokenKey::generate_bytes()?;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            std::io::Write::write_all(&mut o.open(&key_file)?, &b)?;
            b
        }
    };
    let store = latch_store_redb::RedbStore::open(&dir.join("latch.redb"), Default::default())?;
    Ok((Arc::new(store), TokenKey::from_bytes(&key), None))
}
