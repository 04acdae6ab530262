//! Configuration: defaults, then the TOML file, then environment and flags. Only the binary
//! reads configuration; the libraries get typed values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use latch_core::cache::CacheConfig;
use latch_core::policy::Policy;
use serde::Deserialize;

use crate::cli::ServeArgs;

mod service;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7600";
/// The default data dir.
pub const DEFAULT_DATA_DIR: &str = "latch-data";

/// The config file, as written by an operator. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    api_keys: Option<Vec<String>>,
    #[serde(default)]
    sessions: SessionsConfig,
    #[serde(default)]
    one_time_tokens: OneTimeConfig,
    #[serde(default)]
    cache: CacheFileConfig,
    #[serde(default)]
    embedded: EmbeddedConfig,
    #[serde(default)]
    redis: RedisConfig,
    #[serde(default)]
    service_tokens: service::ServiceTokensFile,
    #[serde(default)]
    forward_auth: service::ForwardAuthFile,
    sweep_interval_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisConfig {
    prefix: Option<String>,
    timeout_ms: Option<u64>,
    feed_heartbeat_ms: Option<u64>,
    feed_bound_ms: Option<u64>,
    wait_replicas: Option<u32>,
    wait_timeout_ms: Option<u64>,
}

/// Where sessions live.
#[derive(Debug)]
pub enum StoreChoice {
    /// The embedded store in the data dir.
    Embedded(latch_store_redb::RedbOptions),
    /// Redis, Redis Cluster or Valkey at this URL.
    Redis {
        url: String,
        options: latch_store_redis::RedisOptions,
        feed: latch_store_redis::feed::FeedOptions,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddedConfig {
    checkpoint_interval_ms: Option<u64>,
    check_integrity_on_open: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsConfig {
    idle_timeout_s: Option<u64>,
    absolute_timeout_s: Option<u64>,
    max_idle_timeout_s: Option<u64>,
    max_absolute_timeout_s: Option<u64>,
    max_per_user: Option<u32>,
    refresh_divisor: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OneTimeConfig {
    ttl_s: Option<u64>,
    max_ttl_s: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFileConfig {
    sessions: Option<usize>,
    users: Option<usize>,
    max_age_s: Option<u64>,
}

/// Everything `latch serve` needs, resolved.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub api_keys: Vec<String>,
    pub policy: Policy,
    pub cache: CacheConfig,
    pub sweep_interval: Duration,
    pub store: StoreChoice,
    pub service_tokens: latch_core::service_token::ServiceTokenPolicy,
    pub forward_auth: latch_server::ForwardAuthConfig,
}

impl ServeConfig {
    /// Resolves flags and environment over the file over the defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Self> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let store = args
            .store
            .clone()
            .or(file.store.clone())
            .unwrap_or_else(|| "embedded".into());
        let store = if store == "embedded" {
            StoreChoice::Embedded(embedded(&file.embedded))
        } else {
            latch_store_redis::Target::parse(&store)?;
            let (options, feed) = redis(&file.redis)?;
            StoreChoice::Redis {
                url: store,
                options,
                feed,
            }
        };
        let audiences = std::env::var("LATCH_SERVICE_AUDIENCES").ok();
        let service_tokens = service::service_tokens(&file.service_tokens, audiences.as_deref())?;
        let forward_auth = service::forward_auth(&file.forward_auth, &service_tokens)?;
        let api_keys = match std::env::var("LATCH_API_KEYS") {
            Ok(v) => split_keys(&v),
            Err(_) => file.api_keys.clone().unwrap_or_default(),
        };
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().unwrap_or_else(|_| unreachable!())),
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir.clone())
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            api_keys,
            policy: policy(&file.sessions, &file.one_time_tokens)?,
            cache: cache(&file.cache),
            sweep_interval: Duration::from_secs(file.sweep_interval_s.unwrap_or(60).max(1)),
            store,
            service_tokens,
            forward_auth,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))
}

/// The config file holds API keys: a parse error names the line and what is wrong, but never
/// quotes the file (toml's own message shows the offending line, and a quoted value may be a
/// key).
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let line = e
        .span()
        .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
    let mut message = String::with_capacity(e.message().len());
    for (i, part) in e.message().split('"').enumerate() {
        // Odd parts were inside double quotes: values from the file.
        message.push_str(if i % 2 == 1 { "\"…\"" } else { part });
    }
    let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
    anyhow::anyhow!(
        "invalid config file {}{at}: {}",
        path.display(),
        message.trim()
    )
}

/// `LATCH_API_KEYS`: comma-separated, blanks ignored.
fn split_keys(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn policy(s: &SessionsConfig, o: &OneTimeConfig) -> Result<Policy> {
    let mut p = Policy::default();
    let secs = |v: Option<u64>, name: &str, d: Duration| -> Result<Duration> {
        match v {
            Some(0) => bail!("{name} must be at least 1 second"),
            Some(v) => Ok(Duration::from_secs(v)),
            None => Ok(d),
        }
    };
    p.default_idle_timeout = secs(
        s.idle_timeout_s,
        "sessions.idle_timeout_s",
        p.default_idle_timeout,
    )?;
    p.default_absolute_timeout = secs(
        s.absolute_timeout_s,
        "sessions.absolute_timeout_s",
        p.default_absolute_timeout,
    )?;
    p.max_idle_timeout = secs(
        s.max_idle_timeout_s,
        "sessions.max_idle_timeout_s",
        p.max_idle_timeout,
    )?;
    p.max_absolute_timeout = secs(
        s.max_absolute_timeout_s,
        "sessions.max_absolute_timeout_s",
        p.max_absolute_timeout,
    )?;
    if let Some(n) = s.max_per_user {
        if n == 0 {
            bail!("sessions.max_per_user must be at least 1");
        }
        p.max_sessions_per_user = n;
    }
    if let Some(d) = s.refresh_divisor {
        if d < 2 {
            bail!("sessions.refresh_divisor must be at least 2");
        }
        p.refresh_divisor = d;
    }
    p.one_time_default_ttl = secs(o.ttl_s, "one_time_tokens.ttl_s", p.one_time_default_ttl)?;
    p.one_time_max_ttl = secs(o.max_ttl_s, "one_time_tokens.max_ttl_s", p.one_time_max_ttl)?;
    if p.one_time_default_ttl > p.one_time_max_ttl {
        bail!("one_time_tokens.ttl_s must not exceed one_time_tokens.max_ttl_s");
    }
    Ok(p)
}

fn embedded(e: &EmbeddedConfig) -> latch_store_redb::RedbOptions {
    let mut o = latch_store_redb::RedbOptions::default();
    if let Some(ms) = e.checkpoint_interval_ms {
        o.checkpoint_interval = Duration::from_millis(ms.max(1));
    }
    if let Some(b) = e.check_integrity_on_open {
        o.check_integrity_on_open = b;
    }
    o
}

fn redis(
    r: &RedisConfig,
) -> Result<(
    latch_store_redis::RedisOptions,
    latch_store_redis::feed::FeedOptions,
)> {
    let mut o = latch_store_redis::RedisOptions::default();
    if let Some(p) = &r.prefix {
        if p.is_empty() || p.contains(['{', '}']) {
            bail!("redis.prefix must be non-empty and must not contain braces");
        }
        o.prefix.clone_from(p);
    }
    if let Some(ms) = r.timeout_ms {
        o.timeout = Duration::from_millis(ms.max(1));
    }
    if let Some(n) = r.wait_replicas.filter(|n| *n > 0) {
        o.replica_ack = Some(latch_store_redis::replicas::ReplicaAck {
            replicas: n,
            timeout: Duration::from_millis(r.wait_timeout_ms.unwrap_or(100).max(1)),
        });
    }
    let mut f = latch_store_redis::feed::FeedOptions::default();
    if let Some(ms) = r.feed_heartbeat_ms {
        f.heartbeat = Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = r.feed_bound_ms {
        f.bound = Duration::from_millis(ms.max(1));
    }
    if f.bound <= f.heartbeat {
        bail!("redis.feed_bound_ms must be larger than redis.feed_heartbeat_ms");
    }
    Ok((o, f))
}

fn cache(c: &CacheFileConfig) -> CacheConfig {
    let mut out = CacheConfig::default();
    if let Some(n) = c.sessions {
        out.sessions = n;
    }
    if let Some(n) = c.users {
        out.users = n;
    }
    if let Some(s) = c.max_age_s {
        out.max_age_ms = s.saturating_mul(1000);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_apply_and_unknown_keys_are_refused() {
        let f: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9000\"\n[sessions]\nidle_timeout_s = 60\nmax_per_user = 5\n",
        )
        .unwrap();
        assert_eq!(f.listen.unwrap().port(), 9000);
        let p = policy(&f.sessions, &f.one_time_tokens).unwrap();
        assert_eq!(p.default_idle_timeout, Duration::from_secs(60));
        assert_eq!(p.max_sessions_per_user, 5);
        assert!(toml::from_str::<FileConfig>("idle = 1").is_err());
        let zero: FileConfig = toml::from_str("[sessions]\nidle_timeout_s = 0").unwrap();
        assert!(policy(&zero.sessions, &zero.one_time_tokens).is_err());
        let ot: FileConfig =
            toml::from_str("[one_time_tokens]\nttl_s = 300\nmax_ttl_s = 3600").unwrap();
        let p = policy(&ot.sessions, &ot.one_time_tokens).unwrap();
        assert_eq!(p.one_time_default_ttl, Duration::from_secs(300));
        assert_eq!(p.one_time_max_ttl, Duration::from_secs(3600));
        let bad: FileConfig =
            toml::from_str("[one_time_tokens]\nttl_s = 7200\nmax_ttl_s = 3600").unwrap();
        assert!(policy(&bad.sessions, &bad.one_time_tokens).is_err());
    }

    #[test]
    fn parse_errors_name_the_line_but_never_quote_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("latch.toml");
        let key = "config-key-that-must-not-leak-0123456789";
        std::fs::write(
            &p,
            format!("listen = \"127.0.0.1:7600\"\napi_keys = \"{key}\"\n"),
        )
        .unwrap();
        let e = format!("{:#}", read_file(&p).unwrap_err());
        assert!(!e.contains(key), "{e}");
        assert!(e.contains("at line 2"), "{e}");
        std::fs::write(&p, "idle = 1\n").unwrap();
        let e = format!("{:#}", read_file(&p).unwrap_err());
        assert!(e.contains("idle") && e.contains("at line 1"), "{e}");
    }

    #[test]
    fn api_keys_split_on_commas() {
        assert_eq!(split_keys(" a , b,,c "), ["a", "b", "c"]);
        assert!(split_keys("").is_empty());
    }
}
