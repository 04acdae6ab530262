//! `/v1/users` through the router.

mod common;

use axum::http::{Method, StatusCode};
use common::{KEY, app};
use serde_json::json;

#[tokio::test]
async fn put_get_user_and_roles_show_on_next_validation() {
    let app = app();
    app.get("/v1/users/frank").await.problem(404);
    let (token, _) = app.create("frank").await;
    assert_eq!(app.validate(&token).await["user"]["roles"], json!([]));
    let r = app
        .call(
            Method::PUT,
            "/v1/users/frank",
            Some(KEY),
            Some(r#"{"roles":["admin","ops"],"attributes":{"plan":"pro"}}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"id": "frank", "roles": ["admin", "ops"], "status": "active", "attributes": {"plan": "pro"}})
    );
    assert_eq!(
        app.validate(&token).await["user"]["roles"],
        json!(["admin", "ops"])
    );
    let r = app
        .call(
            Method::PUT,
            "/v1/users/frank",
            Some(KEY),
            Some(r#"{"roles":["ops"]}"#),
        )
        .await;
    assert_eq!(r.json()["attributes"], json!({"plan": "pro"}));
    assert_eq!(app.validate(&token).await["user"]["roles"], json!(["ops"]));
    assert_eq!(
        app.get("/v1/users/frank").await.json()["roles"],
        json!(["ops"])
    );
}

#[tokio::test]
async fn blocking_revokes_every_session_and_unblocking_does_not_revive_them() {
    let app = app();
    let (t1, _) = app.create("gina").await;
    let (t2, _) = app.create("gina").await;
    let r = app
        .call(
            Method::PUT,
            "/v1/users/gina",
            Some(KEY),
            Some(r#"{"status":"blocked"}"#),
        )
        .await;
    assert_eq!(r.json()["status"], "blocked");
    assert_eq!(app.validate(&t1).await, json!({"active": false}));
    assert_eq!(app.validate(&t2).await, json!({"active": false}));
    assert_eq!(
        app.get("/v1/users/gina/sessions").await.json(),
        json!({"sessions": []})
    );
    app.call(
        Method::PUT,
        "/v1/users/gina",
        Some(KEY),
        Some(r#"{"status":"active"}"#),
    )
    .await;
    assert_eq!(app.validate(&t1).await, json!({"active": false}));
    app.create("gina").await;
}

#[tokio::test]
async fn bad_user_changes_are_refused_and_write_nothing() {
    let app = app();
    let long = format!("/v1/users/{}", "x".repeat(257));
    for (uri, body, status) in [
        ("/v1/users/h", r#"{"roles":"admin"}"#.to_owned(), 422),
        ("/v1/users/h", r#"{"roles":["has space"]}"#.to_owned(), 422),
        ("/v1/users/h", r#"{"roles":[""]}"#.to_owned(), 422),
        ("/v1/users/h", r#"{"status":"deleted"}"#.to_owned(), 422),
        ("/v1/users/h", r#"{"attributes":[1,2]}"#.to_owned(), 422),
        (
            "/v1/users/h",
            format!(r#"{{"attributes":{{"k":"{}"}}}}"#, "x".repeat(5000)),
            422,
        ),
        ("/v1/users/h", r#"{"nickname":"h"}"#.to_owned(), 422),
        ("/v1/users/h", "{".to_owned(), 400),
        (long.as_str(), "{}".to_owned(), 422),
    ] {
        app.call(Method::PUT, uri, Some(KEY), Some(&body))
            .await
            .problem(status);
    }
    app.get("/v1/users/h").await.problem(404);
    app.get(&long).await.problem(422);
}

#[tokio::test]
async fn user_ids_are_any_utf8_up_to_256_bytes() {
    let app = app();
    for id in [
        "ü",
        "a/b",
        "user@example.com",
        "with space",
        &"é".repeat(128),
    ] {
        let (token, _) = app.create(id).await;
        assert_eq!(app.validate(&token).await["user"]["id"], id);
        let enc: String = id.bytes().map(|b| format!("%{b:02X}")).collect();
        let r = app.get(&format!("/v1/users/{enc}/sessions")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["sessions"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn list_and_revoke_all_except_one() {
    let app = app();
    let (t1, s1) = app.create("ivy").await;
    let (t2, s2) = app.create("ivy").await;
    let (t3, _) = app.create("ivy").await;
    let list = app.get("/v1/users/ivy/sessions").await;
    assert_eq!(list.header("cache-control"), Some("no-store"));
    let v = list.json();
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert!(
        !list.body.windows(8).any(|w| w == b"latch_s_"),
        "listing must never carry tokens"
    );
    let uri = format!(
        "/v1/users/ivy/sessions?except={}",
        s2["id"].as_str().unwrap()
    );
    let r = app.call(Method::DELETE, &uri, Some(KEY), None).await;
    assert_eq!(r.json(), json!({"revoked": 2}));
    assert_eq!(app.validate(&t1).await, json!({"active": false}));
    assert_eq!(app.validate(&t3).await, json!({"active": false}));
    assert_eq!(app.validate(&t2).await["active"], true);
    app.call(
        Method::DELETE,
        "/v1/users/ivy/sessions?except=zz",
        Some(KEY),
        None,
    )
    .await
    .problem(422);
    app.call(
        Method::DELETE,
        "/v1/users/ivy/sessions?other=1",
        Some(KEY),
        None,
    )
    .await
    .problem(400);
    let r = app
        .call(Method::DELETE, "/v1/users/ivy/sessions", Some(KEY), None)
        .await;
    assert_eq!(r.json(), json!({"revoked": 1}));
    let _ = s1;
}
