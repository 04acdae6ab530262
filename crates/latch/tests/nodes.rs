//! Three `latch serve` processes on one Redis, and on a 3-master cluster: a session created on
//! node A validates on B and C; revoked, blocked or re-roled on A, it is refused or changed on
//! B and C. Store outage: 503, never `{"active": false}`.

mod common;

use std::time::{Duration, Instant};

use common::{KEY, Server};
use latch_test_redis::{RedisCluster, RedisServer};
use serde_json::{Value, json};

async fn call(
    c: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = c
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn validate(c: &reqwest::Client, base: &str, token: &str) -> (u16, Value) {
    call(
        c,
        base,
        "POST",
        "/v1/sessions/validate",
        json!({ "token": token }),
    )
    .await
}

/// Polls until `check` holds for the node's answer (a liveness bound, not a timing check).
async fn until(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    check: impl Fn(&Value) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let (s, v) = validate(c, base, token).await;
        if s == 200 && check(&v) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

async fn three_nodes(store: &str) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Server> = dirs
        .iter()
        .map(|d| Server::start_on(store, d.path()))
        .collect();
    let (a, b, c) = (&nodes[0].url, &nodes[1].url, &nodes[2].url);
    let http = reqwest::Client::new();

    let (s, v) = call(&http, a, "POST", "/v1/sessions", json!({"user_id": "ada"})).await;
    assert_eq!(s, 201);
    let token = v["token"].as_str().unwrap().to_owned();
    for n in [a, b, c] {
        assert_eq!(
            validate(&http, n, &token).await.1["active"],
            true,
            "a token from A works on {n}"
        );
    }
    let (s, _) = call(
        &http,
        a,
        "PUT",
        "/v1/users/ada",
        json!({"roles": ["admin"]}),
    )
    .await;
    assert_eq!(s, 200);
    for n in [b, c] {
        assert!(until(&http, n, &token, |v| v["user"]["roles"] == json!(["admin"])).await);
    }
    let (s, _) = call(
        &http,
        a,
        "POST",
        "/v1/sessions/revoke",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(s, 204);
    for n in [b, c] {
        assert!(until(&http, n, &token, |v| v == &json!({"active": false})).await);
    }
    let (_, v) = call(&http, b, "POST", "/v1/sessions", json!({"user_id": "bob"})).await;
    let t2 = v["token"].as_str().unwrap().to_owned();
    for n in [a, c] {
        assert_eq!(validate(&http, n, &t2).await.1["active"], true);
    }
    let (s, _) = call(
        &http,
        a,
        "PUT",
        "/v1/users/bob",
        json!({"status": "blocked"}),
    )
    .await;
    assert_eq!(s, 200);
    for n in [b, c] {
        assert!(until(&http, n, &t2, |v| v == &json!({"active": false})).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_on_one_redis() {
    let server = RedisServer::new();
    three_nodes(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_on_a_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::new)
        .await
        .unwrap();
    three_nodes(&cluster.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_outage_is_503_and_the_node_recovers() {
    let mut server = RedisServer::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let dir = tempfile::tempdir().unwrap();
    let node = Server::start_on(&server.url(), dir.path());
    let http = reqwest::Client::new();
    let (_, v) = call(
        &http,
        &node.url,
        "POST",
        "/v1/sessions",
        json!({"user_id": "cy"}),
    )
    .await;
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(validate(&http, &node.url, &token).await.1["active"], true);
    server.stop();
    // Within the feed's bound the node stops answering from its cache; from then on, and never
    // with `{"active": false}`, it answers 503.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (s, v) = validate(&http, &node.url, &token).await;
        assert_ne!(
            v,
            json!({"active": false}),
            "an outage must not log anyone out"
        );
        if s == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "still {s} {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = http
        .get(format!("{}/readyz", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    server.restart();
    assert!(
        until(&http, &node.url, &token, |v| v["active"] == true).await,
        "clients are not logged out by an outage"
    );
    let ready = http
        .get(format!("{}/readyz", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
