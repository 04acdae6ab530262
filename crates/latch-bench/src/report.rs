//! The report: markdown for people, JSON for tools.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::measure::Stats;

/// One compared approach.
#[derive(Debug, Serialize)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Its latency.
    pub stats: Stats,
    /// Median relative to the reference row's median.
    pub ratio: f64,
    /// The credential's size in bytes.
    pub token_bytes: usize,
}

impl Row {
    /// A row with its ratio to `base_median_ns`.
    pub fn new(name: &str, stats: Stats, base_median_ns: f64, token_bytes: usize) -> Self {
        Self {
            name: name.into(),
            stats,
            ratio: stats.median_ns / base_median_ns.max(f64::MIN_POSITIVE),
            token_bytes,
        }
    }
}

/// Everything measured in one run.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Cores, as the OS reports them.
    pub cpus: usize,
    /// One validation per approach; ratios against HS256.
    pub validation: Vec<Row>,
    /// (concurrent clients, durable creates per second).
    pub creates: Vec<(usize, f64)>,
    /// Redis measurements, if a `redis-server` could be started.
    pub redis: Option<crate::redis_section::RedisReport>,
}

impl Report {
    /// An empty report.
    pub fn new(quick: bool) -> Self {
        Self {
            quick,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            ..Self::default()
        }
    }

    /// Writes `report.md` and `report.json` into `dir`; returns the markdown.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        std::fs::create_dir_all(dir)?;
        let md = self.markdown();
        std::fs::write(dir.join("report.md"), &md)?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self)?)?;
        Ok(md)
    }

    /// The markdown text.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Latch benchmark report\n");
        let _ = writeln!(
            s,
            "{} run on {} CPU(s). Medians and p99s are per operation, over timed batches.\n",
            if self.quick { "Quick" } else { "Full" },
            self.cpus
        );
        let _ = writeln!(s, "## One validation, in process\n");
        let _ = writeln!(
            s,
            "| approach | median | p99 | median vs HS256 | credential size |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for r in &self.validation {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2}x | {} B |",
                r.name,
                ns(r.stats.median_ns),
                ns(r.stats.p99_ns),
                r.ratio,
                r.token_bytes
            );
        }
        let _ = writeln!(
            s,
            "\nTarget: a warm Latch validation costs at most 0.25x an HS256 verification.\n"
        );
        let _ = writeln!(s, "## Durable session creation, embedded store\n");
        let _ = writeln!(
            s,
            "Every create is fsynced before it is acknowledged; concurrent creates share commits.\n"
        );
        let _ = writeln!(s, "| concurrent clients | creates per second |");
        let _ = writeln!(s, "|---:|---:|");
        for (c, per_s) in &self.creates {
            let _ = writeln!(s, "| {c} | {per_s:.0} |");
        }
        let _ = writeln!(
            s,
            "\nTarget: at least 20,000 durable creates per second with 64 clients."
        );
        self.redis_markdown(&mut s);
        s
    }

    fn redis_markdown(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\n## Redis (a local redis-server started by the bench)\n"
        );
        let Some(r) = &self.redis else {
            let _ = writeln!(
                s,
                "Skipped: no `redis-server` could be started (install it, or set LATCH_REDIS_SERVER)."
            );
            return;
        };
        let _ = writeln!(s, "| operation | median | p99 | median vs one GET |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        let base = r.get.median_ns.max(f64::MIN_POSITIVE);
        for (name, st) in [
            ("raw Redis GET round trip (200-byte value)", r.get),
            ("Latch validate, cache miss (one script round trip)", r.miss),
            ("Latch validate, warm near-cache (feed healthy)", r.warm),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {:.2}x |",
                ns(st.median_ns),
                ns(st.p99_ns),
                st.median_ns / base
            );
        }
        let _ = writeln!(
            s,
            "\nTarget: a cache miss costs at most 1.3x one GET round trip.\n"
        );
        let (p50, p99, max) = r.lag_us;
        let _ = writeln!(
            s,
            "Revocation lag, from the revoke's answer on node A to node B's first refusal, over {} trials: p50 {}, p99 {}, max {} (target: p99 under 10 ms; a JWT stays valid for its whole lifetime).\n",
            r.lag_trials,
            ns(p50 * 1000.0),
            ns(p99 * 1000.0),
            ns(max * 1000.0)
        );
        let _ = writeln!(
            s,
            "Memory: {:.0} bytes of `used_memory` per session at {} sessions, two per user, user records and indexes included (target: under 300).\n",
            r.bytes_per_session, r.sessions
        );
        let h = &r.http;
        let _ = writeln!(
            s,
            "### One node over HTTP ({} keep-alive clients, {:.0} s each, load generator in the same process)\n",
            h.clients, h.seconds
        );
        let _ = writeln!(s, "| endpoint | requests per second | vs axum no-op |");
        let _ = writeln!(s, "|---|---:|---:|");
        let base = h.noop_rps.max(f64::MIN_POSITIVE);
        for (name, rps) in [
            (
                "axum no-op (reads the body, answers a constant)",
                h.noop_rps,
            ),
            ("Latch validate, near-cache (feed healthy)", h.cached_rps),
            (
                "Latch validate, no near-cache (every validation reads Redis)",
                h.uncached_rps,
            ),
        ] {
            let _ = writeln!(s, "| {name} | {rps:.0} | {:.2}x |", rps / base);
        }
        let _ = writeln!(s, "\nTarget: at least 0.7x the no-op endpoint.");
    }
}

fn ns(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.2} ms", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{:.2} µs", v / 1_000.0)
    } else {
        format!("{v:.0} ns")
    }
}
