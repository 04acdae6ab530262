//! `latch bench`: Latch measured side by side with the alternatives in one process and one run,
//! with ratios to the reference rows, written as a markdown report (and JSON) to a directory.
//!
//! Wall-clock figures depend on the machine and on what else it is doing; the report states
//! the machine and the command. Nothing here is used by tests to decide pass or fail.
//!
//! # Layout
//! - [`measure`]: batch timing, medians and p99s.
//! - [`jwt`]: the JWT reference rows (`jsonwebtoken`).
//! - [`sections`]: what is measured on the embedded store.
//! - [`redis_section`]: what is measured on Redis (a server the bench starts).
//! - [`http_section`]: one node's validations per second over HTTP.
//! - [`report`]: markdown and JSON output.

#![forbid(unsafe_code)]

pub mod http_section;
pub mod jwt;
pub mod measure;
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
    sections::creates(&mut r, opts.quick).await?;
    r.redis = redis_section::run(budget, opts.quick).await?;
    r.write(&opts.out)
}
