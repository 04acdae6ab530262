//! Service tokens and forward-auth on the real binary: minted tokens verify with keys fetched
//! from the server's JWKS URL by `latch-verify`, `latch keys` lists and rotates (through the
//! server and on a stopped data dir), and the keyring survives restarts.

mod common;

use std::process::{Command, Output};

use common::{KEY, Server, bin, create_session, mint};
use latch_verify::remote::RemoteVerifier;
use serde_json::Value;

fn latch(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("LATCH_LOG", "warn")
        .env("LATCH_API_KEY", KEY)
        .env_remove("LATCH_SERVER")
        .output()
        .unwrap()
}

fn keys(args: &[&str]) -> Vec<Value> {
    let mut a = vec!["keys", "list", "--json"];
    a.extend_from_slice(args);
    let o = latch(&a);
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["keys"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_verify_from_the_jwks_url_and_keys_rotate_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("LATCH_SERVICE_AUDIENCES", "billing,search")];
    let mut server = Server::start_env(dir.path(), &env);
    let c = reqwest::Client::new();
    let (token, _) = create_session(&server.url, "ada").await;
    let jwt = mint(&server.url, &token, "billing").await;
    let jwks_url = format!("{}/.well-known/jwks.json", server.url);
    let verifier = RemoteVerifier::new(&jwks_url, "latch", "billing").unwrap();
    assert_eq!(verifier.verify(&jwt).await.unwrap().sub, "ada");
    // The same token is not for another service.
    let other = RemoteVerifier::new(&jwks_url, "latch", "search").unwrap();
    assert!(other.verify(&jwt).await.is_err());

    // Forward-auth on the real listener, with the session cookie.
    let r = c
        .get(format!("{}/v1/forward-auth", server.url))
        .header("cookie", format!("__Host-latch={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-latch-user"], "ada");

    // Rotate through the server: the new key is published at once and pending.
    let url = server.url.clone();
    let o = latch(&["keys", "rotate", "--server", &url]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("published now, signs from"));
    let listed = keys(&["--server", &url]);
    let states: Vec<&str> = listed
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["signing", "pending"]);
    let doc: Value = c.get(&jwks_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
    // Tokens minted before and after the rotation both verify.
    assert!(verifier.verify(&jwt).await.is_ok());
    assert!(
        verifier
            .verify(&mint(&url, &token, "billing").await)
            .await
            .is_ok()
    );

    // The keyring is in the data dir, owner-only, and survives a restart.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("signing-keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(server.terminate().success());
    let o = latch(&[
        "keys",
        "list",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let after: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kids = |v: &[Value]| v.iter().map(|k| k["kid"].clone()).collect::<Vec<_>>();
    assert_eq!(kids(after["keys"].as_array().unwrap()), kids(&listed));

    // An emergency rotation on the stopped data dir: one key signs, the others are gone.
    let d = dir.path().to_str().unwrap();
    let o = latch(&["keys", "rotate", "--immediately", "--data-dir", d]);
    assert!(o.status.success(), "{o:?}");
    let server = Server::start_env(dir.path(), &env);
    let listed = keys(&["--server", &server.url]);
    let signing: Vec<_> = listed.iter().filter(|k| k["state"] == "signing").collect();
    assert_eq!(signing.len(), 1);
    let doc: Value = c
        .get(format!("{}/.well-known/jwks.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 1);
    assert_eq!(doc["keys"][0]["kid"], signing[0]["kid"]);
    // The old token's key was withdrawn: a fresh verifier refuses it.
    let fresh = RemoteVerifier::new(
        &format!("{}/.well-known/jwks.json", server.url),
        "latch",
        "billing",
    )
    .unwrap();
    assert!(fresh.verify(&jwt).await.is_err());
}
