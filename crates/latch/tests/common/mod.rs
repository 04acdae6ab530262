//! Runs the real `latch` binary on a free port and a temporary data dir.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "crash-test-api-key-0123456789abcdef0123";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_latch")
}

/// A free port on loopback (bound and released; the usual small race is accepted).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `latch serve`; killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts `latch serve` with `LATCH_API_KEYS=KEY` (or without keys if `key` is false).
    pub fn start(data_dir: &Path, with_key: bool) -> Self {
        Self::start_with(data_dir, with_key, None)
    }

    /// Starts `latch serve` on a Redis store URL (the data dir is unused but given).
    pub fn start_on(store: &str, data_dir: &Path) -> Self {
        Self::start_args(data_dir, true, None, &["--store", store])
    }

    /// Starts `latch serve`, with a config file if given.
    pub fn start_with(data_dir: &Path, with_key: bool, config: Option<&Path>) -> Self {
        Self::start_args(data_dir, with_key, config, &[])
    }

    /// Starts `latch serve` with `LATCH_API_KEYS=KEY` and these environment variables.
    pub fn start_env(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn(data_dir, true, None, &[], env)
    }

    fn start_args(data_dir: &Path, with_key: bool, config: Option<&Path>, extra: &[&str]) -> Self {
        Self::spawn(data_dir, with_key, config, extra, &[])
    }

    fn spawn(
        data_dir: &Path,
        with_key: bool,
        config: Option<&Path>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let mut cmd = Command::new(bin());
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env("LATCH_LOG", "warn")
        .env_remove("LATCH_API_KEYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if with_key {
            cmd.env("LATCH_API_KEYS", KEY);
        }
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let s = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_owned(),
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(self.url.trim_start_matches("http://")).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("latch serve did not start");
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a session for `user` through the API; its token and session.
pub async fn create_session(url: &str, user: &str) -> (String, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/sessions"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({ "user_id": user }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    (
        v["token"].as_str().unwrap().to_owned(),
        v["session"].clone(),
    )
}

/// Mints a service token for `audience` from `token` through the API.
pub async fn mint(url: &str, token: &str, audience: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/service-tokens"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({ "token": token, "audience": audience }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["jwt"].as_str().unwrap().to_owned()
}
