//! Real Redis servers for tests, in the manner of redis-rs's `redis-test`: each on a free
//! loopback port with its own temporary directory, killed on drop. `LATCH_REDIS_SERVER` and
//! `LATCH_REDIS_CLI` point at other binaries (`valkey-server`, `valkey-cli`).

#![forbid(unsafe_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary.
pub fn server_bin() -> String {
    std::env::var("LATCH_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// The CLI binary.
pub fn cli_bin() -> String {
    std::env::var("LATCH_REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}

/// A free port on loopback. Bound and released: another process could take it in between,
/// which is the accepted race of every such helper.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// One `redis-server` process.
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    bin: String,
}

impl RedisServer {
    /// A standalone server with persistence off.
    pub fn new() -> Self {
        Self::with_args(&[])
    }

    /// A server with extra `redis-server` arguments (e.g. `--appendonly yes`).
    pub fn with_args(extra: &[&str]) -> Self {
        Self::with_binary(&server_bin(), extra)
    }

    /// A server from another binary (`valkey-server`), with extra arguments.
    pub fn with_binary(bin: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let port = free_port();
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let child = spawn(bin, dir.path(), port, &extra);
        let s = Self {
            child,
            port,
            dir,
            extra,
            bin: bin.to_owned(),
        };
        wait_for(port);
        s
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and directory (its data, if persisted, is
    /// reloaded).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(&self.bin, self.dir.path(), self.port, &self.extra);
        wait_for(self.port);
    }

    /// Runs `redis-cli` against this server; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }
}

impl Default for RedisServer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(bin: &str, dir: &Path, port: u16, extra: &[String]) -> Child {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--enable-debug-command", "yes", "--logfile"])
        .arg(dir.join("redis.log"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): install redis-server"))
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server on port {port} did not start");
}

/// Runs `redis-cli -p PORT args...`; its stdout.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new(cli_bin())
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): install redis-tools", cli_bin()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Redis Cluster of `n` masters, joined with `redis-cli --cluster create`.
pub struct RedisCluster {
    /// The nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three masters, no replicas.
    pub fn new() -> Self {
        Self::with_masters(3)
    }

    /// `n` masters, no replicas.
    pub fn with_masters(n: usize) -> Self {
        let nodes: Vec<_> = (0..n)
            .map(|_| {
                RedisServer::with_args(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.push("--cluster-yes");
        let c = Self { nodes };
        for attempt in 0..5 {
            let out = Command::new(cli_bin())
                .args(&args)
                .output()
                .unwrap_or_else(|e| panic!("redis-cli: {e}"));
            if out.status.success() && c.ready() {
                return c;
            }
            std::thread::sleep(Duration::from_millis(200 * (attempt + 1)));
        }
        panic!("the cluster did not form");
    }

    fn ready(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self
                .nodes
                .iter()
                .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,...`, the form `latch serve --store` takes.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis-cluster://{}", hosts.join(","))
    }
}

impl Default for RedisCluster {
    fn default() -> Self {
        Self::new()
    }
}
