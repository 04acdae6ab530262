//! `latch serve`: open the data dir, build the engine, and serve until SIGTERM or Ctrl-C, then
//! finish in-flight requests and pending commits.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use latch_core::Latch;
use latch_core::api_key::{self, ApiKeySet};
use latch_core::metrics::InstrumentedStore;
use latch_core::store::Store;
use latch_core::time::{Clock, SystemClock};
use latch_server::{ApiKeys, AppState};
use latch_store_redb::{RedbOptions, RedbStore};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::cli::ServeArgs;
use crate::config::ServeConfig;
use crate::keyfile;

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
    let (redb, key) = open_data_dir(&cfg.data_dir, cfg.embedded)?;
    let store: Arc<dyn Store> = Arc::new(InstrumentedStore::new(Arc::clone(&redb)));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let latch = Arc::new(Latch::new(
        Arc::clone(&store),
        key,
        cfg.policy.clone(),
        cfg.cache,
        Arc::clone(&clock),
    ));
    let keys = ApiKeySet::from_config(&cfg.api_keys)
        .context("LATCH_API_KEYS or api_keys in the config file")?;
    let api_keys = ApiKeys::new(keys);
    api_keys.reload(store.as_ref()).await?;
    if api_keys.current().is_empty() {
        first_key(store.as_ref(), clock.now()).await?;
        api_keys.reload(store.as_ref()).await?;
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try --listen)", cfg.listen))?;
    let state = AppState {
        latch,
        api_keys,
        metrics: Some(metrics),
    };
    let upkeep = latch_server::maintenance::spawn(state.clone(), cfg.sweep_interval);
    tracing::info!(
        listen = %listener.local_addr()?,
        data_dir = %cfg.data_dir.display(),
        "latch is serving"
    );
    let app = latch_server::router(state);
    latch_server::serve(listener, app, shutdown).await?;
    upkeep.abort();
    // In-flight requests are done; commit whatever is still queued, then release the file.
    redb.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// With no API key configured anywhere, create one, keep its hash, print it once.
async fn first_key(store: &dyn Store, now: latch_core::time::Timestamp) -> Result<()> {
    let new = api_key::generate("initial", now)?;
    store.insert_api_key(new.record.clone()).await?;
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
