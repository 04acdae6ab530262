//! The demo end to end through `oneshot`: sign in on two devices, see both, sign the other
//! out from the first, sign out; cross-site posts and wrong passwords are refused.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use latch_axum::LatchLayer;
use latch_core::Latch;
use tower::ServiceExt;

fn app() -> Router {
    let latch = Arc::new(Latch::new(
        Arc::new(latch_store_memory::MemoryStore::new()),
        latch_core::token::TokenKey::from_bytes(&[3; 32]),
        latch_core::policy::Policy::default(),
        latch_core::cache::CacheConfig::default(),
        Arc::new(latch_core::time::SystemClock),
    ));
    sessions_demo::app()
        .layer(LatchLayer::new(latch))
        .layer(MockConnectInfo(SocketAddr::from(([198, 51, 100, 7], 5555))))
}

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    ua: &str,
) -> Page {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost:3000")
        .header(header::USER_AGENT, ua);
    if method == "POST" {
        b = b.header("sec-fetch-site", "same-origin");
    }
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    let req = match form {
        Some(f) => b
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_owned()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    };
    let r = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let body =
        String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).into_owned();
    Page {
        status,
        headers,
        body,
    }
}

/// The first "sign out this device" form's action on a page.
fn revoke_action(body: &str) -> String {
    body.split("action=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned()
}

async fn sign_in(app: &Router, ua: &str) -> String {
    let p = call(
        app,
        "POST",
        "/login",
        None,
        Some("username=ada&password=lovelace"),
        ua,
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let set = p.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Lax"));
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_see_devices_revoke_one_and_sign_out() {
    let app = app();
    let home = call(&app, "GET", "/", None, None, "test").await;
    assert!(home.body.contains("<form method=post action=/login>"));
    assert_eq!(home.headers[header::CACHE_CONTROL], "no-store");

    let laptop = sign_in(&app, "Laptop <b>browser</b>").await;
    let phone = sign_in(&app, "Phone").await;
    let page = call(&app, "GET", "/", Some(&laptop), None, "Laptop").await;
    assert!(page.body.contains("Signed in as <strong>ada</strong>"));
    assert!(page.body.contains("Phone"));
    // User agents are escaped, never rendered as markup.
    assert!(
        page.body.contains("Laptop &lt;b&gt;browser&lt;/b&gt;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("198.51.100.7"));
    assert_eq!(page.body.matches("Sign out this device").count(), 1);

    // Sign the phone out from the laptop.
    let action = revoke_action(&page.body);
    let r = call(&app, "POST", &action, Some(&laptop), Some(""), "Laptop").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let phone_page = call(&app, "GET", "/", Some(&phone), None, "Phone").await;
    assert!(
        phone_page.body.contains("action=/login"),
        "the phone is signed out"
    );
    let page = call(&app, "GET", "/", Some(&laptop), None, "Laptop").await;
    assert!(!page.body.contains("Phone"));

    // Sign out: the cookie is cleared and the session is gone.
    let r = call(&app, "POST", "/logout", Some(&laptop), Some(""), "Laptop").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(r.headers.contains_key("clear-site-data"));
    let page = call(&app, "GET", "/", Some(&laptop), None, "Laptop").await;
    assert!(page.body.contains("action=/login"));
}

#[tokio::test]
async fn wrong_passwords_cross_site_posts_and_foreign_sessions_are_refused() {
    let app = app();
    for form in [
        "username=ada&password=nope",
        "username=eve&password=lovelace",
    ] {
        let p = call(&app, "POST", "/login", None, Some(form), "x").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{form}");
        assert!(!p.headers.contains_key(header::SET_COOKIE));
    }

    let ada = sign_in(&app, "a").await;
    // A form posted from another site (the browser says so, or its Origin does) is refused.
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let req = Request::builder()
            .method("POST")
            .uri("/logout")
            .header("host", "localhost:3000")
            .header(name, value)
            .header(header::COOKIE, &ada)
            .body(Body::empty())
            .unwrap();
        let status = app.clone().oneshot(req).await.unwrap().status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }

    // Grace cannot sign out Ada's devices, even knowing a session id.
    let grace = {
        let p = call(
            &app,
            "POST",
            "/login",
            None,
            Some("username=grace&password=hopper"),
            "g",
        )
        .await;
        p.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let ada_phone = sign_in(&app, "ada's phone").await;
    let ada_page = call(&app, "GET", "/", Some(&ada), None, "a").await;
    let action = revoke_action(&ada_page.body);
    let r = call(&app, "POST", &action, Some(&grace), Some(""), "g").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let still = call(&app, "GET", "/", Some(&ada_phone), None, "p").await;
    assert!(still.body.contains("Signed in as <strong>ada</strong>"));
    // Without a session, the device routes are 401.
    let r = call(&app, "POST", "/logout", None, Some(""), "x").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
