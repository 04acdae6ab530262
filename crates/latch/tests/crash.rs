//! Invariant 2: an acknowledged write survives `kill -9`. A stream of creates and revokes runs
//! against a real `latch serve`; the process is killed mid-stream; after a restart every
//! acknowledged create is there and every acknowledged revocation still holds.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{KEY, Server};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    /// 201 received.
    Created,
    /// A revoke was sent but not answered: either outcome is allowed.
    RevokeInFlight,
    /// 204 received.
    Revoked,
}

async fn post(
    c: &reqwest::Client,
    url: &str,
    path: &str,
    body: Value,
) -> reqwest::Result<reqwest::Response> {
    c.post(format!("{url}{path}"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_and_revokes_survive_kill_9() {
    kill_9_mid_stream(None).await;
}

/// The same with checkpoints pushed out of the way: everything acknowledged is recovered from
/// the write-ahead log alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_write_ahead_log_alone_recovers_everything_after_kill_9() {
    kill_9_mid_stream(Some("[embedded]\ncheckpoint_interval_ms = 3600000\n")).await;
}

async fn kill_9_mid_stream(config: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("latch.toml");
    if let Some(c) = config {
        std::fs::write(&cfg_path, c).unwrap();
    }
    let cfg = config.map(|_| cfg_path.as_path());
    let data = dir.path().join("data");
    let mut server = Server::start_with(&data, true, cfg);
    let url = server.url.clone();
    let fates: Arc<Mutex<HashMap<String, Fate>>> = Arc::default();
    let client = reqwest::Client::new();

    let mut workers = Vec::new();
    for w in 0..8 {
        let (c, url, fates) = (client.clone(), url.clone(), Arc::clone(&fates));
        workers.push(tokio::spawn(async move {
            let mut mine: Vec<String> = Vec::new();
            for i in 0.. {
                if i % 3 == 2 {
                    let Some(t) = mine.pop() else { continue };
                    fates
                        .lock()
                        .unwrap()
                        .insert(t.clone(), Fate::RevokeInFlight);
                    match post(&c, &url, "/v1/sessions/revoke", json!({"token": t})).await {
                        Ok(r) if r.status() == 204 => {
                            fates.lock().unwrap().insert(t, Fate::Revoked);
                        }
                        _ => return,
                    }
                } else {
                    let body = json!({"user_id": format!("crash-user-{w}")});
                    match post(&c, &url, "/v1/sessions", body).await {
                        Ok(r) if r.status() == 201 => {
                            let v: Value = match r.json().await {
                                Ok(v) => v,
                                Err(_) => return,
                            };
                            let t = v["token"].as_str().unwrap().to_owned();
                            fates.lock().unwrap().insert(t.clone(), Fate::Created);
                            mine.push(t);
                        }
                        Ok(r) if r.status() == 403 => panic!("unexpected 403"),
                        _ => return,
                    }
                }
            }
        }));
    }
    // Let a few hundred writes be acknowledged, then kill the server mid-stream.
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if fates.lock().unwrap().len() >= 400 {
            break;
        }
    }
    server.kill9();
    for w in workers {
        w.await.unwrap();
    }
    let fates = fates.lock().unwrap().clone();
    let created = fates.values().filter(|f| **f == Fate::Created).count();
    let revoked = fates.values().filter(|f| **f == Fate::Revoked).count();
    assert!(
        created > 100 && revoked > 50,
        "created {created}, revoked {revoked}"
    );

    let server = Server::start(&data, true);
    for (token, fate) in &fates {
        let r = post(
            &client,
            &server.url,
            "/v1/sessions/validate",
            json!({"token": token}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let active = r.json::<Value>().await.unwrap()["active"]
            .as_bool()
            .unwrap();
        match fate {
            Fate::Created => assert!(active, "an acknowledged create was lost"),
            Fate::Revoked => assert!(!active, "an acknowledged revocation was lost"),
            Fate::RevokeInFlight => {}
        }
    }
}
