//! `latch serve`: open the data dir, build the engine, and serve until SIGTERM or Ctrl-C, then
//! finish in-flight requests and pending commits.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use latch_core::Latch;
use latch_core::api_key::ApiKeySet;
use latch_core::metrics::InstrumentedStore;
use latch_core::service_token::ServiceTokens;
use latch_core::store::Store;
use latch_core::time::{Clock, SystemClock};
use latch_server::{ApiKeys, AppState};
use latch_store_redb::{RedbOptions, RedbStore};
use latch_store_redis::RedisStore;
use latch_store_redis::feed::{Feed, FeedOptions};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::cli::ServeArgs;
use crate::config::{ServeConfig, StoreChoice};
use crate::keyfile;
use crate::signing::KeyringFile;

/// The database file inside the data dir.
pub const DB_FILE: &str = "latch.redb";

/// Opens the embedded store and the token key in `data_dir`.
pub fn open_data_dir(
    data_dir: &Path,
    options: RedbOptions,
) -> Result<(Arc<RedbStore>, latch_core::token::TokenKey)> {
    check_data_dir(data_dir)?;
    keyfile::ensure_data_dir(data_dir)?;
    let key = keyfile::load_or_create(data_dir)?;
    let db = data_dir.join(DB_FILE);
    // The database holds verifier hashes and user data: owner-only, like the key.
    keyfile::create_private(&db)?;
    let store = RedbStore::open(&db, options)?;
    Ok((Arc::new(store), key))
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let cfg = ServeConfig::resolve(&args)?;
    let shutdown = shutdown_signal()?;
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let backend = Backend::open(&cfg).await?;
    let store: Arc<dyn Store> = Arc::new(InstrumentedStore::new(backend.store()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let latch = Arc::new(Latch::new(
        Arc::clone(&store),
        backend.key.clone(),
        cfg.policy.clone(),
        cfg.cache,
        Arc::clone(&clock),
    ));
    // Redis: the cache stays distrusted until the invalidation feed is up.
    let _feed = backend.feed(&latch);
    let keys = ApiKeySet::from_config(&cfg.api_keys)
        .context("LATCH_API_KEYS or api_keys in the config file")?;
    let api_keys = ApiKeys::new(keys);
    api_keys.reload(store.as_ref()).await?;
    if api_keys.current().is_empty() {
        first_key(&latch).await?;
        api_keys.reload(store.as_ref()).await?;
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try --listen)", cfg.listen))?;
    let service = service_tokens(&cfg, &latch).await?;
    let state = AppState::new(latch, api_keys, Some(metrics))
        .with_service_tokens(service)
        .with_forward_auth(cfg.forward_auth.clone());
    let upkeep = latch_server::maintenance::spawn(state.clone(), cfg.sweep_interval);
    tracing::info!(
        listen = %listener.local_addr()?,
        store = backend.describe(&cfg),
        "latch is serving"
    );
    let app = latch_server::router(state);
    latch_server::serve(listener, app, shutdown).await?;
    upkeep.abort();
    backend.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The store behind this node, and what it needs at shutdown.
struct Backend {
    kind: BackendKind,
    key: latch_core::token::TokenKey,
}

enum BackendKind {
    Embedded(Arc<RedbStore>),
    Redis(RedisStore, FeedOptions),
}

impl Backend {
    async fn open(cfg: &ServeConfig) -> Result<Self> {
        match &cfg.store {
            StoreChoice::Embedded(options) => {
                let (redb, key) = open_data_dir(&cfg.data_dir, *options)?;
                Ok(Self {
                    kind: BackendKind::Embedded(redb),
                    key,
                })
            }
            StoreChoice::Redis { url, options, feed } => {
                let store = RedisStore::connect(url, options.clone())
                    .await
                    .with_context(|| format!("cannot use the store at {url}"))?;
                // Every node must tag tokens with the same key: the first node's random key is
                // kept in the store and every node uses it.
                let key = store
                    .token_key(latch_core::token::TokenKey::generate_bytes()?)
                    .await?;
                Ok(Self {
                    kind: BackendKind::Redis(store, *feed),
                    key: latch_core::token::TokenKey::from_bytes(&key),
                })
            }
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        match &self.kind {
            BackendKind::Embedded(r) => Arc::clone(r) as Arc<dyn Store>,
            BackendKind::Redis(r, _) => Arc::new(r.clone()),
        }
    }

    fn feed(&self, latch: &Arc<Latch>) -> Option<Feed> {
        match &self.kind {
            BackendKind::Embedded(_) => None,
            BackendKind::Redis(r, options) => Some(Feed::spawn(r, Arc::clone(latch), *options)),
        }
    }

    fn describe(&self, cfg: &ServeConfig) -> String {
        match &self.kind {
            BackendKind::Embedded(_) => format!("embedded ({})", cfg.data_dir.display()),
            BackendKind::Redis(r, _) => format!("{:?}", r.target()),
        }
    }

    /// In-flight requests are done: commit whatever is still queued, then release the file.
    async fn close(&self) {
        if let BackendKind::Embedded(r) = &self.kind {
            r.close().await;
        }
    }
}

/// This node's signing keys from its data dir, on schedule and published before it serves, so
/// a verifier that fetches the key set finds the key of the first token minted here.
async fn service_tokens(cfg: &ServeConfig, latch: &Latch) -> Result<Arc<ServiceTokens>> {
    keyfile::ensure_data_dir(&cfg.data_dir)?;
    let file = KeyringFile::in_dir(&cfg.data_dir);
    let ring = file.load_or_create(latch.clock().now())?;
    let service = Arc::new(ServiceTokens::new(
        cfg.service_tokens.clone(),
        ring,
        Arc::new(file),
    ));
    service
        .upkeep(latch.store().as_ref(), latch.clock().now())
        .await
        .context("cannot publish the service-token signing keys")?;
    Ok(service)
}

/// With no API key configured anywhere, create one, keep its hash, print it once.
async fn first_key(latch: &Latch) -> Result<()> {
    let new = latch.create_api_key("initial").await?;
    // stdout, not the log: the key must not end up in log files.
    println!(
        "No API key was configured, so Latch created one. It is shown only this once; only its hash is kept:\n\n    {}\n\nSend it as `Authorization: Bearer <key>`. Manage keys with `latch api-keys`.\n",
        new.key.0
    );
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed now, before the listener is
/// bound, so a signal that arrives early still means "stop cleanly", not the default kill.
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot install the SIGINT handler")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// Refuses a data dir path that is a file, with a message that says what to do.
pub fn check_data_dir(dir: &Path) -> Result<()> {
    if dir.is_file() {
        bail!("{} is a file; --data-dir wants a directory", dir.display());
    }
    Ok(())
}
