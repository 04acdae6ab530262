//! The Python (PyJWT) and Node (jose) verification programs in `docs/service-tokens.md`, run
//! as written against a real `latch serve`: they accept a minted service token and refuse one
//! for another audience or with a changed payload. `scripts/test.sh` installs PyJWT and jose.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Server, create_session, mint};
use serde_json::Value;

const DOC: &str = include_str!("../../../docs/service-tokens.md");

fn snippet(lang: &str) -> String {
    let fence = format!("```{lang}\n");
    let rest = DOC
        .split(&fence)
        .nth(1)
        .unwrap_or_else(|| panic!("no {lang} block"));
    rest.split("\n```").next().unwrap().to_owned()
}

/// Where scripts/test.sh installed jose (`npm install --prefix DIR jose`).
fn js_deps() -> PathBuf {
    std::env::var_os("LATCH_JS_DEPS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/verifier-deps"),
        PathBuf::from,
    )
}

async fn minted(server: &Server, audience: &str) -> String {
    let (token, _) = create_session(&server.url, "ada").await;
    mint(&server.url, &token, audience).await
}

/// Runs `cmd` on `token` with the verifier's environment; its claims, or `None` if refused.
fn run(cmd: &mut Command, server: &Server, token: &str) -> Option<Value> {
    let out = cmd
        .arg(token)
        .env(
            "LATCH_JWKS_URL",
            format!("{}/.well-known/jwks.json", server.url),
        )
        .env("LATCH_ISSUER", "latch")
        .env("LATCH_AUDIENCE", "billing")
        .output()
        .expect("the verifier's runtime is not installed: run scripts/test.sh");
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// The same token with one payload byte changed (the signature no longer matches).
fn tampered(jwt: &str) -> String {
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let p = &mut parts[1];
    let last = p.pop().unwrap();
    p.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

async fn check(mut verifier: impl FnMut() -> Command) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_env(dir.path(), &[("LATCH_SERVICE_AUDIENCES", "billing,search")]);
    let good = minted(&server, "billing").await;
    let claims = run(&mut verifier(), &server, &good).expect("a genuine token is accepted");
    assert_eq!(claims["sub"], "ada");
    assert_eq!(claims["aud"], "billing");
    let other = minted(&server, "search").await;
    assert!(
        run(&mut verifier(), &server, &other).is_none(),
        "another audience"
    );
    assert!(
        run(&mut verifier(), &server, &tampered(&good)).is_none(),
        "a changed payload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_verifier_in_the_docs_works() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify.py");
    std::fs::write(&script, snippet("python")).unwrap();
    check(|| {
        let mut c = Command::new("python3");
        c.arg(&script);
        c
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_verifier_in_the_docs_works() {
    let deps = js_deps();
    assert!(
        deps.join("node_modules/jose").exists(),
        "jose is not installed in {}: run scripts/test.sh",
        deps.display()
    );
    // Next to node_modules, so `import "jose"` resolves.
    let script = deps.join(format!("verify-{}.mjs", std::process::id()));
    std::fs::write(&script, snippet("js")).unwrap();
    check(|| {
        let mut c = Command::new("node");
        c.arg(&script);
        c
    })
    .await;
    let _ = std::fs::remove_file(&script);
}
