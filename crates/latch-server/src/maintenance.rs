//! Background upkeep: sweep expired sessions in batches, refresh the active-sessions gauge,
//! reload API keys (so a key created or revoked on another node takes effect here), and keep
//! the signing keys on schedule and published.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::AppState;

/// Sessions deleted per store transaction by the sweeper.
pub const SWEEP_BATCH: usize = 1000;

/// Runs upkeep every `every` until the task is aborted. Each step is one store transaction, so
/// aborting between or during steps loses nothing.
pub fn spawn(state: AppState, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            run_once(&state).await;
        }
    })
}

/// One round of upkeep; failures are logged and retried next round.
pub async fn run_once(state: &AppState) {
    // A store that expires sessions by itself (Redis) needs neither the sweep nor a count that
    // would have to scan it.
    if !state.latch.store().expires_on_its_own() {
        match state.latch.sweep(SWEEP_BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(swept = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
        }
        if let Ok(n) = state.latch.store().session_count().await {
            latch_core::metrics::set_active_sessions(n);
        }
    }
    if let Err(e) = state.api_keys.reload(state.latch.store().as_ref()).await {
        tracing::warn!(error = %e, "API key reload failed; keeping the current keys");
    }
    let now = state.latch.clock().now();
    if let Err(e) = state
        .service
        .upkeep(state.latch.store().as_ref(), now)
        .await
    {
        tracing::warn!(error = %e, "signing key upkeep failed; will retry");
    }
}
