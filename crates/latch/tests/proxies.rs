//! Real reverse proxies in front of a real upstream, configured with the snippets in
//! `docs/forward-auth.md` exactly as written there (only addresses are replaced): nginx
//! (`auth_request`) and Caddy (`forward_auth`). Through the proxy, a valid session cookie
//! reaches the upstream with the identity headers; right after logout the next request is
//! refused; a client's own `X-Latch-*` headers never reach the upstream; a store outage is
//! 503, never 401.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use common::{KEY, Server, free_port};
use latch_test_redis::RedisServer;
use serde_json::{Map, Value, json};

const DOC: &str = include_str!("../../../docs/forward-auth.md");

/// The fenced blocks of `lang` in the forward-auth guide, in order.
fn snippets(lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    DOC.split(&fence)
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap().to_owned())
        .collect()
}

/// The guide's addresses (Latch 7600, app 8080, proxy 8000) replaced by this test's.
fn place(s: &str, latch: &str, app: SocketAddr, proxy: u16) -> String {
    s.replace("127.0.0.1:7600", latch.trim_start_matches("http://"))
        .replace("127.0.0.1:8080", &app.to_string())
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{proxy}"))
        .replace(":8000 {", &format!(":{proxy} {{"))
}

/// What the upstream saw: each request's path and headers.
type Seen = Arc<Mutex<Vec<(String, Map<String, Value>)>>>;

/// An upstream that records every request and answers 200.
async fn upstream() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let s = Arc::clone(&seen);
    let app = Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let s = Arc::clone(&s);
        async move {
            let h: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
                .collect();
            s.lock().unwrap().push((uri.path().to_owned(), h));
            "hello from the app"
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, seen)
}

/// A proxy process, stopped on drop: SIGTERM first, so nginx's master takes its workers down
/// with it, then SIGKILL if it lingers.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not start on port {port}");
}

fn nginx(dir: &Path, latch: &str, app: SocketAddr) -> (Proxy, u16) {
    let port = free_port();
    let blocks = snippets("nginx");
    let server = place(&blocks[0], latch, app, port);
    std::fs::write(dir.join("latch-identity.conf"), &blocks[1]).unwrap();
    let d = dir.display();
    // Running as root, nginx's workers would switch to `nobody`; keep them as this user.
    let user = if is_root() { "user root;" } else { "" };
    let conf = format!(
        "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         {server}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let bin = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|b| Command::new(b).arg("-v").output().is_ok())
        .expect("nginx is not installed: run the suite with scripts/test.sh, which installs it");
    let child = Command::new(bin)
        .args(["-e", &format!("{}/error.log", dir.display()), "-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port, "nginx");
    (Proxy(child), port)
}

fn caddy(dir: &Path, latch: &str, app: SocketAddr) -> (Proxy, u16) {
    let port = free_port();
    let site = place(&snippets("caddyfile")[0], latch, app, port);
    // No admin endpoint (tests run side by side) and no certificates.
    let file = format!("{{\n\tadmin off\n\tauto_https off\n}}\n{site}\n");
    std::fs::write(dir.join("Caddyfile"), file).unwrap();
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.join("Caddyfile"))
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("HOME", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("caddy is not installed: run the suite with scripts/test.sh, which installs it");
    wait_port(port, "caddy");
    (Proxy(child), port)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

async fn create(latch: &str, user: &str) -> (String, String) {
    let (token, session) = common::create_session(latch, user).await;
    (token, session["id"].as_str().unwrap().to_owned())
}

async fn api(c: &reqwest::Client, latch: &str, method: &str, path: &str, body: Value) {
    let r = c
        .request(method.parse().unwrap(), format!("{latch}{path}"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{method} {path}: {}", r.status());
}

/// GET through the proxy with a session cookie (if any) and forged identity headers.
async fn through(
    c: &reqwest::Client,
    port: u16,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut r = c
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("x-latch-user", "root")
        .header("x-latch-roles", "admin")
        .header("x-latch-session", "forged")
        .header("x-latch-jwt", "forged");
    if let Some(t) = token {
        r = r.header("cookie", format!("theme=dark; __Host-latch={t}"));
    }
    r.send().await.unwrap()
}

fn config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("latch.toml");
    std::fs::write(
        &p,
        "[service_tokens]\naudiences = [\"app\"]\n[forward_auth]\nservice_token_audience = \"app\"\n",
    )
    .unwrap();
    p
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The identity the upstream saw on its last request, and that no forged header got through.
fn last_identity(seen: &Seen) -> Map<String, Value> {
    let (_, h) = seen.lock().unwrap().last().cloned().unwrap();
    assert_ne!(h.get("x-latch-user"), Some(&json!("root")), "{h:?}");
    assert_ne!(h.get("x-latch-session"), Some(&json!("forged")), "{h:?}");
    assert_ne!(h.get("x-latch-jwt"), Some(&json!("forged")), "{h:?}");
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_forwards_identity_and_refuses_right_after_logout() {
    let dir = tempfile::tempdir().unwrap();
    let latch = Server::start_with(&dir.path().join("data"), true, Some(&config(dir.path())));
    let (app, seen) = upstream().await;
    let (_nginx, port) = nginx(dir.path(), &latch.url, app);
    let c = client();
    let (token, sid) = create(&latch.url, "ada@example.com").await;

    let r = through(&c, port, "/hello", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello from the app");
    let h = last_identity(&seen);
    assert_eq!(h["x-latch-user"], "ada@example.com");
    assert_eq!(h["x-latch-session"], sid.as_str());
    // No roles: the header is empty, so nginx drops it (and the forged one with it).
    assert!(h.get("x-latch-roles").is_none(), "{h:?}");
    // The service token for the upstream verifies against Latch's JWK Set.
    let jwt = h["x-latch-jwt"].as_str().unwrap();
    let v = latch_verify::remote::RemoteVerifier::new(
        &format!("{}/.well-known/jwks.json", latch.url),
        "latch",
        "app",
    )
    .unwrap();
    assert_eq!(v.verify(jwt).await.unwrap().sub, "ada@example.com");

    // A role is needed below /admin/; granting it works on the next request.
    assert_eq!(
        through(&c, port, "/admin/panel", Some(&token))
            .await
            .status(),
        403
    );
    api(
        &c,
        &latch.url,
        "PUT",
        "/v1/users/ada@example.com",
        json!({"roles": ["admin"]}),
    )
    .await;
    assert_eq!(
        through(&c, port, "/admin/panel", Some(&token))
            .await
            .status(),
        200
    );
    assert_eq!(last_identity(&seen)["x-latch-roles"], "admin");

    // Without a session: API clients get 401, browsers go to the login page; the upstream is
    // not reached (and forged headers alone grant nothing).
    let before = seen.lock().unwrap().len();
    assert_eq!(through(&c, port, "/hello", None).await.status(), 401);
    let r = c
        .get(format!("http://127.0.0.1:{port}/docs?page=2"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let to = r.headers()["location"].to_str().unwrap();
    assert!(to.ends_with("/login?rd=/docs?page=2"), "{to}");
    assert_eq!(seen.lock().unwrap().len(), before);

    // Logout: the very next request through nginx is refused.
    logout_refuses_the_next_request(&c, &latch.url, port, &token).await;
    assert_eq!(seen.lock().unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_answers_503_while_the_store_is_down() {
    let dir = tempfile::tempdir().unwrap();
    // Durable, so the session is still there when the server is back.
    let mut redis = RedisServer::with_args(&["--appendonly", "yes", "--appendfsync", "always"]);
    let latch = Server::start_on(&redis.url(), &dir.path().join("data"));
    let (app, _seen) = upstream().await;
    let (_nginx, port) = nginx(dir.path(), &latch.url, app);
    let c = client();
    let (token, _) = create(&latch.url, "bo").await;
    assert_eq!(through(&c, port, "/", Some(&token)).await.status(), 200);
    redis.stop();
    // Until the node notices, it may still answer from a healthy cache (200); once it does, it
    // must answer 503. At no point may it say the session is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = 0;
    while Instant::now() < deadline {
        last = through(&c, port, "/", Some(&token)).await.status().as_u16();
        assert_ne!(last, 401, "an outage logged the user out");
        if last == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last, 503);
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && last != 200 {
        last = through(&c, port, "/", Some(&token)).await.status().as_u16();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, 200, "the session works again once the store is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forwards_identity_and_strips_client_headers() {
    let dir = tempfile::tempdir().unwrap();
    let latch = Server::start_with(&dir.path().join("data"), true, Some(&config(dir.path())));
    let (app, seen) = upstream().await;
    let (_caddy, port) = caddy(dir.path(), &latch.url, app);
    let c = client();
    let (token, sid) = create(&latch.url, "zoë").await;
    let r = through(&c, port, "/hello", Some(&token)).await;
    assert_eq!(r.status(), 200);
    let h = last_identity(&seen);
    assert_eq!(h["x-latch-user"], "zo%C3%AB");
    assert_eq!(h["x-latch-session"], sid.as_str());
    assert_ne!(h.get("x-latch-roles"), Some(&json!("admin")), "{h:?}");
    assert!(h["x-latch-jwt"].as_str().unwrap().starts_with("eyJ"));
    let before = seen.lock().unwrap().len();
    assert_eq!(through(&c, port, "/hello", None).await.status(), 401);
    logout_refuses_the_next_request(&c, &latch.url, port, &token).await;
    assert_eq!(seen.lock().unwrap().len(), before);
}

/// `POST /v1/sessions/revoke`, then the very next request through the proxy is 401.
async fn logout_refuses_the_next_request(c: &reqwest::Client, latch: &str, port: u16, token: &str) {
    api(
        c,
        latch,
        "POST",
        "/v1/sessions/revoke",
        json!({ "token": token }),
    )
    .await;
    assert_eq!(through(c, port, "/hello", Some(token)).await.status(), 401);
}
