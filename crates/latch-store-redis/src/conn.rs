//! One connection type over a standalone server and a cluster, and the URL forms Latch takes.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Where the store lives, from `--store`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Target {
    /// `redis://HOST:PORT[/DB]`, `rediss://…`, or `valkey://…`: one server (with replicas
    /// behind it if you like).
    Single(String),
    /// `redis-cluster://HOST:PORT[,HOST:PORT…]`: a Redis Cluster or Valkey cluster, given any
    /// of its nodes.
    Cluster(Vec<String>),
}

/// Why a store URL was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported store URL {0:?}: use redis://HOST:PORT, valkey://HOST:PORT or redis-cluster://HOST:PORT[,HOST:PORT...]"
)]
pub struct BadUrl(pub String);

impl Target {
    /// Parses a store URL.
    ///
    /// # Errors
    /// [`BadUrl`] for any other scheme or an empty host list.
    pub fn parse(url: &str) -> Result<Self, BadUrl> {
        if let Some(rest) = url.strip_prefix("redis-cluster://") {
            let nodes: Vec<String> = rest
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|h| format!("redis://{h}"))
                .collect();
            if nodes.is_empty() {
                return Err(BadUrl(url.into()));
            }
            return Ok(Self::Cluster(nodes));
        }
        if let Some(rest) = url.strip_prefix("valkey://") {
            return Ok(Self::Single(format!("redis://{rest}")));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Ok(Self::Single(url.into()));
        }
        Err(BadUrl(url.into()))
    }
}

/// A connection that reconnects on its own, to a server or a cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    pub(crate) async fn open(target: &Target, timeout: Duration) -> redis::RedisResult<Self> {
        match target {
            Target::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1);
                Ok(Self::Single(
                    client.get_connection_manager_with_config(cfg).await?,
                ))
            }
            Target::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6379").unwrap(),
            Target::Single("redis://127.0.0.1:6379".into())
        );
        assert_eq!(
            Target::parse("valkey://h:1").unwrap(),
            Target::Single("redis://h:1".into())
        );
        assert_eq!(
            Target::parse("redis-cluster://a:1, b:2").unwrap(),
            Target::Cluster(vec!["redis://a:1".into(), "redis://b:2".into()])
        );
        assert!(Target::parse("redis-cluster://").is_err());
        assert!(Target::parse("postgres://x").is_err());
    }
}
