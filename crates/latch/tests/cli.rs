//! The binary end to end: first start prints one API key (and only once), admin commands on a
//! running server and on a stopped data dir, exit codes, and a clean stop on SIGTERM.

mod common;

use std::process::{Command, Output};

use common::{Server, bin};
use serde_json::{Value, json};

fn latch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env("LATCH_LOG", "warn")
        .env_remove("LATCH_API_KEY")
        .env_remove("LATCH_SERVER");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_key_admin_commands_and_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), false);
    // The first start printed a key on stdout.
    let mut printed = String::new();
    {
        use std::io::Read;
        let mut out = server.child.stdout.take().unwrap();
        let mut buf = [0u8; 4096];
        let n = out.read(&mut buf).unwrap();
        printed.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let key = printed
        .split_whitespace()
        .find(|w| w.starts_with("latch_k_"))
        .expect("first start prints an API key")
        .to_owned();
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/v1/sessions", server.url))
        .bearer_auth(&key)
        .json(&json!({"user_id": "zoe", "device": {"user_agent": "cli-test"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let env = [("LATCH_API_KEY", key.as_str())];
    let url = server.url.clone();
    let o = latch(&["sessions", "list", "zoe", "--server", &url], &env);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("cli-test"));
    let o = latch(&["users", "block", "zoe", "--server", &url, "--json"], &env);
    assert!(o.status.success());
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap()["status"],
        "blocked"
    );
    let r = c
        .post(format!("{url}/v1/sessions/validate"))
        .bearer_auth(&key)
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    // Exit codes: 3 not found, 5 refused key, 2 usage, 4 data dir in use.
    let missing = "000000000000000000000000000000000000";
    assert_eq!(
        latch(&["sessions", "revoke", missing, "--server", &url], &env)
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        latch(
            &["users", "get", "zoe", "--server", &url],
            &[("LATCH_API_KEY", "wrong-wrong-wrong-wrong-wrong-wrong")]
        )
        .status
        .code(),
        Some(5)
    );
    assert_eq!(
        latch(&["users", "get", "zoe", "--server", &url], &[])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        latch(&["sessions", "revoke", "nope", "--server", &url], &env)
            .status
            .code(),
        Some(2)
    );
    let d = dir.path().to_str().unwrap();
    let o = latch(&["users", "get", "zoe", "--data-dir", d], &[]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--server"));

    // SIGTERM stops cleanly (exit 0); the data dir is then usable directly.
    assert!(server.terminate().success());
    let o = latch(&["users", "unblock", "zoe", "--data-dir", d], &[]);
    assert!(o.status.success(), "{o:?}");
    let o = latch(&["api-keys", "list", "--data-dir", d, "--json"], &[]);
    let keys: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(keys["api_keys"].as_array().unwrap().len(), 1);
    assert!(!stdout(&o).contains(&key), "keys are never shown again");

    // A second start finds the stored key and prints nothing.
    let mut again = Server::start(dir.path(), false);
    assert!(again.terminate().success());
    let mut rest = String::new();
    use std::io::Read;
    again
        .child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .unwrap();
    assert!(
        !rest.contains("latch_k_"),
        "the key is printed only on the first start"
    );
}

#[test]
fn help_teaches_and_bad_usage_exits_2() {
    let o = latch(&["--help"], &[]);
    assert!(o.status.success());
    let h = stdout(&o);
    for w in ["serve", "sessions", "users", "api-keys"] {
        assert!(h.contains(w));
    }
    let o = latch(&["serve", "--help"], &[]);
    assert!(stdout(&o).contains("LATCH_API_KEYS"));
    assert_eq!(latch(&["frobnicate"], &[]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let o = latch(
        &[
            "users",
            "get",
            "x",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no Latch data"));
}

/// SIGTERM while writes are in flight: every write that was answered 201 is there after a
/// restart, and the server exits 0 (it finished what it had accepted and committed the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), true);
    let c = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (c, url) = (c.clone(), server.url.clone());
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(format!("{url}/v1/sessions"))
                .bearer_auth(common::KEY)
                .json(&json!({"user_id": format!("term-{i}")}))
                .send()
                .await
                .ok()?;
            (r.status() == 201).then_some(())?;
            let v: Value = r.json().await.ok()?;
            Some(v["token"].as_str()?.to_owned())
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    assert!(server.terminate().success(), "a clean stop exits 0");
    let mut acked = Vec::new();
    for t in tasks {
        if let Some(token) = t.await.unwrap() {
            acked.push(token);
        }
    }
    let server = Server::start(dir.path(), true);
    for token in &acked {
        let r = c
            .post(format!("{}/v1/sessions/validate", server.url))
            .bearer_auth(common::KEY)
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.json::<Value>().await.unwrap()["active"],
            true,
            "an answered create was lost"
        );
    }
}
