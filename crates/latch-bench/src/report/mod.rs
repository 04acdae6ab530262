//! The report: markdown for people, JSON for tools, SVG charts for both, and a table that says
//! plainly which targets were met and which were missed.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::chart::{self, Bar};
use crate::measure::Stats;

mod findings;

/// Which family an approach belongs to (for the charts' colours).
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Self-contained JWTs.
    Jwt,
    /// Server-side sessions in a relational database.
    Database,
    /// Server-side sessions in Redis, one read per request.
    Redis,
    /// Latch.
    Latch,
}

impl Group {
    fn color(self) -> &'static str {
        match self {
            Self::Jwt => "#d9822b",
            Self::Database => "#7a6fbf",
            Self::Redis => "#c23b3b",
            Self::Latch => "#2b8a3e",
        }
    }
}

/// One compared approach.
#[derive(Debug, Serialize)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Its family.
    pub group: Group,
    /// Its latency.
    pub stats: Stats,
    /// Median relative to the table's reference row (set when the table is printed).
    pub ratio: f64,
    /// The credential's size in bytes, where there is one.
    pub token_bytes: Option<usize>,
}

impl Row {
    /// A row; its ratio is filled in against the table's reference.
    pub fn new(name: &str, group: Group, stats: Stats, token_bytes: Option<usize>) -> Self {
        Self {
            name: name.into(),
            group,
            stats,
            ratio: 1.0,
            token_bytes,
        }
    }
}

/// How soon an approach stops honouring a revoked credential or a removed role.
#[derive(Debug, Serialize)]
pub struct Freshness {
    /// The approach.
    pub approach: String,
    /// Its family.
    pub group: Group,
    /// Revocation: (seconds, p99 seconds if measured, how it was obtained).
    pub revoke: Delay,
    /// A removed role: the same.
    pub demote: Delay,
}

/// A delay, measured or given by the design.
#[derive(Debug, Serialize)]
pub struct Delay {
    /// The typical delay (p50 when measured), seconds.
    pub seconds: f64,
    /// The p99 when measured, seconds.
    pub p99: Option<f64>,
    /// What the figure is.
    pub how: String,
}

impl Delay {
    fn measured((p50, p99): (f64, f64), how: &str) -> Self {
        Self {
            seconds: p50 / 1e6,
            p99: Some(p99 / 1e6),
            how: how.into(),
        }
    }

    fn by_design(seconds: f64, how: &str) -> Self {
        Self {
            seconds,
            p99: None,
            how: how.into(),
        }
    }

    fn text(&self) -> String {
        match self.p99 {
            Some(p) => format!("p50 {}, p99 {} ({})", secs(self.seconds), secs(p), self.how),
            None => format!("{} ({})", secs(self.seconds), self.how),
        }
    }
}

/// A performance target and whether this run met it.
#[derive(Debug, Serialize)]
pub struct Target {
    /// What is measured.
    pub what: String,
    /// The target, as DESIGN.md states it.
    pub target: String,
    /// This run's figure.
    pub measured: String,
    /// Met or missed.
    pub met: bool,
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
    /// Service tokens: minting and verifying.
    pub service_tokens: Vec<Row>,
    /// One node refusing what it just revoked or demoted.
    pub one_node: Option<crate::sections::OneNode>,
    /// PostgreSQL sessions, if a server could be started or was given.
    pub postgres: Option<crate::pg_section::PgReport>,
    /// Redis measurements, if a `redis-server` could be started.
    pub redis: Option<crate::redis_section::RedisReport>,
    /// Requests per second over HTTP.
    pub http: crate::http_section::HttpReport,
    /// (concurrent clients, durable creates per second).
    pub creates: Vec<(usize, f64)>,
    /// Revocation and stale roles, per approach (filled in by [`Report::finish`]).
    pub freshness: Vec<Freshness>,
    /// The targets (filled in by [`Report::finish`]).
    pub targets: Vec<Target>,
    /// Sections that could not run, and why.
    pub skipped: Vec<String>,
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

    /// Adds a row to the validation table.
    pub fn push(&mut self, row: Row) {
        self.validation.push(row);
    }

    fn median(&self, name_starts: &str) -> Option<f64> {
        self.validation
            .iter()
            .find(|r| r.name.starts_with(name_starts))
            .map(|r| r.stats.median_ns)
    }

    /// Computes ratios, the freshness table and the targets.
    pub fn finish(&mut self) {
        let base = self.median("JWT HS256").unwrap_or(1.0);
        for r in &mut self.validation {
            r.ratio = r.stats.median_ns / base.max(f64::MIN_POSITIVE);
        }
        for r in &mut self.service_tokens {
            r.ratio = r.stats.median_ns / base.max(f64::MIN_POSITIVE);
        }
        self.freshness = self.freshness_rows();
        self.targets = self.target_rows();
    }

    /// Writes `report.md`, `report.json`, `latency.svg` and `freshness.svg` into `dir`; returns
    /// the markdown.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        std::fs::create_dir_all(dir)?;
        let md = self.markdown();
        std::fs::write(dir.join("report.md"), &md)?;
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self)?)?;
        std::fs::write(dir.join("latency.svg"), self.latency_chart())?;
        std::fs::write(dir.join("freshness.svg"), self.freshness_chart())?;
        Ok(md)
    }

    /// The markdown text.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Latch benchmark report\n");
        let _ = writeln!(
            s,
            "{} run on {} CPU(s), in one process. Medians and p99s are per operation, over timed batches. Charts: `latency.svg`, `freshness.svg`.\n",
            if self.quick { "Quick" } else { "Full" },
            self.cpus
        );
        self.targets_md(&mut s);
        self.validation_md(&mut s);
        self.freshness_md(&mut s);
        self.redis_md(&mut s);
        self.http_md(&mut s);
        self.service_md(&mut s);
        self.creates_md(&mut s);
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "## Skipped\n");
            for k in &self.skipped {
                let _ = writeln!(s, "- {k}");
            }
        }
        s
    }

    fn targets_md(&self, s: &mut String) {
        let _ = writeln!(s, "## Targets\n");
        let _ = writeln!(s, "| what | target | this run | |");
        let _ = writeln!(s, "|---|---|---:|---|");
        for t in &self.targets {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                t.what,
                t.target,
                t.measured,
                if t.met { "met" } else { "**missed**" }
            );
        }
        let _ = writeln!(s);
    }

    fn validation_md(&self, s: &mut String) {
        let _ = writeln!(s, "## One validation per approach\n");
        let _ = writeln!(
            s,
            "In process: a JWT is verified; a database or Redis session is one round trip over loopback; Latch answers from its near-cache or reads its store on a miss.\n"
        );
        rows_md(
            s,
            "| approach | median | p99 | median vs HS256 | credential size |",
            &self.validation,
        );
    }

    fn freshness_md(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "## How long a revoked session or a removed role still works\n"
        );
        let _ = writeln!(
            s,
            "| approach | revoked credential refused after | demoted user loses the role after |"
        );
        let _ = writeln!(s, "|---|---|---|");
        for f in &self.freshness {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                f.approach,
                f.revoke.text(),
                f.demote.text()
            );
        }
        let _ = writeln!(s);
    }

    fn redis_md(&self, s: &mut String) {
        let _ = writeln!(s, "## Redis (a local redis-server started by the bench)\n");
        let Some(r) = &self.redis else {
            let _ = writeln!(
                s,
                "Skipped: no `redis-server` could be started (install it, or set LATCH_REDIS_SERVER).\n"
            );
            return;
        };
        let _ = writeln!(s, "| operation | median | p99 | median vs one GET |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        let base = r.get.median_ns.max(f64::MIN_POSITIVE);
        for (name, st) in [
            ("raw Redis GET round trip (200-byte value)", r.get),
            ("Redis session, the usual way (GET + JSON decode)", r.usual),
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
        let (p50, p99, max) = r.lag_us;
        let (d50, d99, dmax) = r.demote_lag_us;
        let _ = writeln!(
            s,
            "\nAcross two nodes, over {} trials each: a revocation on node A is refused by node B after p50 {}, p99 {}, max {}; a removed role is gone on node B after p50 {}, p99 {}, max {}.\n",
            r.lag_trials,
            ns(p50 * 1000.0),
            ns(p99 * 1000.0),
            ns(max * 1000.0),
            ns(d50 * 1000.0),
            ns(d99 * 1000.0),
            ns(dmax * 1000.0)
        );
        let _ = writeln!(
            s,
            "Memory: {:.0} bytes of `used_memory` per session at {} sessions, two per user, user records and indexes included.\n",
            r.bytes_per_session, r.sessions
        );
    }

    fn http_md(&self, s: &mut String) {
        let h = &self.http;
        let _ = writeln!(
            s,
            "## One node over HTTP ({} keep-alive clients, median of {} interleaved rounds of {:.1} s, load generator in the same process)\n",
            h.clients, h.rounds, h.seconds
        );
        let _ = writeln!(s, "| endpoint | requests per second | vs axum no-op |");
        let _ = writeln!(s, "|---|---:|---:|");
        let base = h.noop_rps().max(f64::MIN_POSITIVE);
        for r in &h.rows {
            let _ = writeln!(s, "| {} | {:.0} | {:.2}x |", r.name, r.rps, r.rps / base);
        }
        let _ = writeln!(s);
    }

    fn service_md(&self, s: &mut String) {
        let _ = writeln!(s, "## Service tokens (in process)\n");
        rows_md(
            s,
            "| operation | median | p99 | median vs HS256 verify | size |",
            &self.service_tokens,
        );
    }

    fn creates_md(&self, s: &mut String) {
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
        let _ = writeln!(s);
    }

    fn latency_chart(&self) -> String {
        let bars: Vec<Bar> = self
            .validation
            .iter()
            .map(|r| Bar {
                label: r.name.clone(),
                value: r.stats.median_ns,
                p99: Some(r.stats.p99_ns),
                color: r.group.color(),
                note: ns(r.stats.median_ns),
            })
            .collect();
        let title = "One validation per approach (median, whisker to p99)";
        chart::log_bars(title, &bars, |d| decade(d - 9))
    }

    fn freshness_chart(&self) -> String {
        let bars: Vec<Bar> = self
            .freshness
            .iter()
            .map(|f| {
                let v = f.revoke.p99.unwrap_or(f.revoke.seconds);
                Bar {
                    label: f.approach.clone(),
                    value: v,
                    p99: None,
                    color: f.group.color(),
                    note: secs(v),
                }
            })
            .collect();
        let title = "How long a revoked credential keeps working (p99 where measured)";
        chart::log_bars(title, &bars, decade)
    }
}

/// A latency table: the header, then one line per row.
fn rows_md(s: &mut String, header: &str, rows: &[Row]) {
    let _ = writeln!(s, "{header}");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for r in rows {
        let size = r
            .token_bytes
            .map_or_else(|| "-".into(), |b| format!("{b} B"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2}x | {size} |",
            r.name,
            ns(r.stats.median_ns),
            ns(r.stats.p99_ns),
            r.ratio
        );
    }
    let _ = writeln!(s);
}

/// `10^d` seconds as an axis label: `10 µs`, `1 s`, `1000 s`.
fn decade(d: i32) -> String {
    let (unit, base) = match d {
        ..-6 => ("ns", -9),
        -6..-3 => ("µs", -6),
        -3..0 => ("ms", -3),
        _ => ("s", 0),
    };
    format!("{} {unit}", 10u64.pow((d - base).unsigned_abs()))
}

/// Nanoseconds as people read them.
pub fn ns(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.2} ms", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("{:.2} µs", v / 1_000.0)
    } else {
        format!("{v:.0} ns")
    }
}

/// Seconds as people read them.
pub fn secs(v: f64) -> String {
    if v >= 3600.0 {
        format!("{:.0} h", v / 3600.0)
    } else if v >= 60.0 {
        format!("{:.0} min", v / 60.0)
    } else if v >= 1.0 {
        format!("{v:.0} s")
    } else {
        ns(v * 1e9)
    }
}
