//! `latch bench`: Latch measured side by side with the alternatives in one process and one run,
//! with ratios to the reference rows, written as a markdown report (and JSON) to a directory.
//!
//! Wall-clock figures depend on the machine and on what else it is doing; the report states
//! the machine and the command. Nothing here is used by tests to decide pass or fail.
//!
//! # Layout
//! - [`measure`]: batch timing, medians and p99s.
//! - [`jwt`]: the JWT reference rows (`jsonwebtoken`: HS256, EdDSA, RS256).
//! - [`sections`]: what is measured on the embedded store, service tokens, HTTP, creates.
//! - [`pg_section`]: traditional database sessions on PostgreSQL (a server the bench starts).
//! - [`redis_section`]: Redis sessions the usual way, and Latch on Redis (a server the bench
//!   starts).
//! - [`http_section`]: one node's requests per second over HTTP.
//! - [`report`], [`chart`]: markdown, JSON and SVG output.

#![forbid(unsafe_code)]

pub mod chart;
pub mod http_section;
pub mod jwt;
pub mod measure;
pub mod pg_section;
pub mod redis_section;
pub mod report;
pub mod sections;

use std::path::PathBuf;

/// What `latch bench` was asked to do.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Everything briefly (well under a minute).
    pub quick: bool,
    /// Where the report goes.
    pub out: PathBuf,
}

/// Runs every section and writes the report; returns the markdown.
///
/// # Errors
/// I/O errors creating the temporary store or writing the report, and store errors.
pub async fn run(opts: &BenchOptions) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let budget = if opts.quick {
        measure::Budget::QUICK
    } else {
        measure::Budget::FULL
    };
    let mut r = report::Report::new(opts.quick);
    sections::validation(&mut r, budget).await?;
    match pg_section::run(budget, opts.quick).await {
        Ok(pg) => {
            let row = report::Row::new(
                "PostgreSQL session row by primary key (prepared, loopback)",
                report::Group::Database,
                pg.lookup,
                None,
            );
            r.validation.insert(3, row);
            r.postgres = Some(pg);
        }
        Err(e) => r.skipped.push(format!("PostgreSQL sessions: {e}")),
    }
    let mut more = Vec::new();
    let _redis_nodes = match redis_section::run(budget, opts.quick).await? {
        Some((redis, nodes)) => {
            let at = r.validation.len().min(4);
            r.validation.insert(
                at,
                report::Row::new(
                    "Redis session, the usual way (GET + JSON decode, loopback)",
                    report::Group::Redis,
                    redis.usual,
                    None,
                ),
            );
            r.validation.push(report::Row::new(
                "Latch validate, cache miss (Redis, one script round trip)",
                report::Group::Latch,
                redis.miss,
                None,
            ));
            more.push(http_section::Target {
                name: "Latch POST /v1/sessions/validate, Redis, near-cache (feed healthy)".into(),
                base: http_section::latch_node(std::sync::Arc::clone(&nodes.cached)).await?,
                call: http_section::Call::Validate,
                token: nodes.token.clone(),
            });
            more.push(http_section::Target {
                name: "Latch POST /v1/sessions/validate, Redis, no near-cache".into(),
                base: http_section::latch_node(std::sync::Arc::clone(&nodes.uncached)).await?,
                call: http_section::Call::Validate,
                token: nodes.token.clone(),
            });
            r.redis = Some(redis);
            Some(nodes)
        }
        None => {
            r.skipped.push(
                "Redis: no redis-server could be started (install it, or set LATCH_REDIS_SERVER)"
                    .into(),
            );
            None
        }
    };
    sections::http(&mut r, opts.quick, more).await?;
    sections::creates(&mut r, opts.quick).await?;
    r.finish();
    r.write(&opts.out)
}
