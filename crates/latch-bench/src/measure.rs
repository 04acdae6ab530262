//! Timing: run an operation in batches, time each batch, and report per-operation medians and
//! 99th percentiles over the batches. Wall-clock numbers are for reports; no test asserts them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Per-operation latency, in nanoseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Stats {
    /// Median over batches.
    pub median_ns: f64,
    /// 99th percentile over batches.
    pub p99_ns: f64,
    /// Operations timed.
    pub ops: u64,
}

/// How long each measured case runs.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Batches per case.
    pub batches: usize,
    /// Target wall time per batch.
    pub batch_time: Duration,
}

impl Budget {
    /// A few seconds per case.
    pub const FULL: Self = Self {
        batches: 200,
        batch_time: Duration::from_millis(10),
    };
    /// Well under a second per case.
    pub const QUICK: Self = Self {
        batches: 40,
        batch_time: Duration::from_millis(2),
    };
}

/// Times a synchronous operation.
pub fn sync<T>(budget: Budget, mut f: impl FnMut() -> T) -> Stats {
    let per_batch = calibrate(budget.batch_time, || {
        black_box(f());
    });
    let mut samples = Vec::with_capacity(budget.batches);
    for _ in 0..budget.batches {
        let t = Instant::now();
        for _ in 0..per_batch {
            black_box(f());
        }
        samples.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
    }
    stats(samples, per_batch * budget.batches as u64)
}

/// Times an asynchronous operation, awaited in a loop on the current task.
pub async fn future<T, F: Future<Output = T>>(budget: Budget, mut f: impl FnMut() -> F) -> Stats {
    // Calibrate on a few runs.
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < budget.batch_time / 4 || n < 4 {
        black_box(f().await);
        n += 1;
    }
    let per_op = t.elapsed().as_nanos().max(1) as f64 / n as f64;
    let per_batch = ((budget.batch_time.as_nanos() as f64 / per_op) as u64).max(1);
    let mut samples = Vec::with_capacity(budget.batches);
    for _ in 0..budget.batches {
        let t = Instant::now();
        for _ in 0..per_batch {
            black_box(f().await);
        }
        samples.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
    }
    stats(samples, per_batch * budget.batches as u64)
}

fn calibrate(batch_time: Duration, mut f: impl FnMut()) -> u64 {
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < batch_time / 4 || n < 4 {
        f();
        n += 1;
    }
    let per_op = t.elapsed().as_nanos().max(1) as f64 / n as f64;
    ((batch_time.as_nanos() as f64 / per_op) as u64).max(1)
}

/// The `q` quantiles of `samples` (nearest rank), in the order asked; zeros when empty.
pub fn quantiles<const N: usize>(mut samples: Vec<f64>, q: [f64; N]) -> [f64; N] {
    samples.sort_by(f64::total_cmp);
    q.map(|q| {
        let i = ((samples.len().max(1) - 1) as f64 * q).round() as usize;
        samples.get(i).copied().unwrap_or(0.0)
    })
}

/// Median and p99 of per-operation samples.
pub fn stats(samples: Vec<f64>, ops: u64) -> Stats {
    let [median_ns, p99_ns] = quantiles(samples, [0.5, 0.99]);
    Stats {
        median_ns,
        p99_ns,
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let s = stats((1..=100).rev().map(f64::from).collect(), 100);
        assert_eq!(s.median_ns, 51.0);
        assert_eq!(s.p99_ns, 99.0);
    }
}
