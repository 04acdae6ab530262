//! Admin commands. Each becomes an [`Action`], carried out either on a data dir (opening the
//! embedded store directly, server stopped) or through a running server's HTTP API. Both give
//! the same JSON, printed as the API answers it (`--json`) or as text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;
use latch_core::Latch;
use latch_core::service_token::{Rotation, ServiceTokens};
use latch_core::store::Store;
use latch_core::time::{Clock as _, SystemClock};
use latch_core::token::SessionId;
use latch_core::user::{UserId, UserPatch, UserStatus};
use latch_server::views::{
    ApiKeyView, KeyList, KeyView, NewApiKeyView, RotationView, SessionList, SessionView, UserView,
};
use serde_json::{Value, json};

use crate::cli::Target;
use crate::exit::Failure;

/// One admin operation.
#[derive(Debug)]
pub enum Action {
    ListSessions(UserId),
    RevokeSession(SessionId),
    RevokeAll(UserId, Option<SessionId>),
    GetUser(UserId),
    SetStatus(UserId, UserStatus),
    SetRoles(UserId, Vec<String>),
    CreateKey(String),
    ListKeys,
    RevokeKey(String),
    ListSigningKeys,
    RotateSigningKeys { immediately: bool },
}

/// Runs `action` on `target` and prints the result.
pub async fn run(action: Action, target: Target) -> Result<(), Failure> {
    let out = match &target.server {
        Some(url) => via_server(url, &action).await?,
        None => {
            let dir = target
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_DATA_DIR));
            via_data_dir(dir, &action).await?
        }
    };
    crate::print::print(&action, &out, target.json);
    Ok(())
}

async fn via_data_dir(dir: PathBuf, action: &Action) -> Result<Value, Failure> {
    if !dir.join(crate::serve::DB_FILE).exists() {
        return Err(Failure::usage(format!(
            "no Latch data in {} (pass --data-dir, or --server URL for a running server)",
            dir.display()
        )));
    }
    let (redb, key) = crate::serve::open_data_dir(&dir, latch_store_redb::RedbOptions::default()).map_err(|e| {
        if e.downcast_ref::<latch_store_redb::OpenError>()
            .is_some_and(|o| matches!(o, latch_store_redb::OpenError::InUse(_)))
        {
            Failure::unavailable(format!(
                "{e}\nhint: run the command against the server: --server http://ADDR with LATCH_API_KEY set"
            ))
        } else {
            Failure::other(e)
        }
    })?;
    let store: Arc<dyn Store> = Arc::clone(&redb) as Arc<dyn Store>;
    let clock = Arc::new(SystemClock);
    let latch = Latch::new(
        Arc::clone(&store),
        key,
        latch_core::policy::Policy::default(),
        latch_core::cache::CacheConfig::default(),
        clock,
    );
    let r = match action {
        Action::ListSigningKeys | Action::RotateSigningKeys { .. } => {
            on_keyring(&dir, store.as_ref(), action).await
        }
        _ => on_engine(&latch, store.as_ref(), action).await,
    };
    redb.close().await;
    r
}

/// Key commands on a data dir: the keyring file, published to the embedded store.
async fn on_keyring(dir: &Path, store: &dyn Store, action: &Action) -> Result<Value, Failure> {
    let file = crate::signing::KeyringFile::in_dir(dir);
    let now = SystemClock.now();
    let ring = file.load_or_create(now).map_err(Failure::other)?;
    let service = ServiceTokens::new(
        latch_core::service_token::ServiceTokenPolicy::default(),
        ring,
        Arc::new(file),
    );
    if let Action::RotateSigningKeys { immediately } = action {
        let r = service
            .rotate(store, now, *immediately)
            .await
            .map_err(|e| Failure::other(anyhow!("{e}")))?;
        let (kid, from, pending) = match r {
            Rotation::Scheduled { kid, signs_from } => (kid, signs_from, false),
            Rotation::AlreadyPending { kid, signs_from } => (kid, signs_from, true),
        };
        return Ok(json(&RotationView {
            kid,
            signs_from: from.to_rfc3339(),
            already_pending: pending,
        }));
    }
    Ok(json(&KeyList {
        keys: service.list(now).iter().map(KeyView::of).collect(),
    }))
}

async fn on_engine(latch: &Latch, store: &dyn Store, action: &Action) -> Result<Value, Failure> {
    Ok(match action {
        Action::ListSessions(u) => {
            let s = latch.user_sessions(u).await.map_err(Failure::engine)?;
            json(&SessionList {
                sessions: s.iter().map(SessionView::of).collect(),
            })
        }
        Action::RevokeSession(id) => {
            if !latch.revoke_session(id).await.map_err(Failure::engine)? {
                return Err(Failure::not_found("no such session"));
            }
            Value::Null
        }
        Action::RevokeAll(u, except) => {
            let n = latch
                .revoke_user_sessions(u, except.as_ref())
                .await
                .map_err(Failure::engine)?;
            json!({ "revoked": n })
        }
        Action::GetUser(u) => match latch.user(u).await.map_err(Failure::engine)? {
            Some(user) => json(&UserView::of(&user)),
            None => return Err(Failure::not_found("no such user")),
        },
        Action::SetStatus(u, status) => {
            let p = UserPatch::new(None, Some(*status), None)
                .map_err(|e| Failure::usage(e.to_string()))?;
            json(&UserView::of(
                &latch.update_user(u, &p).await.map_err(Failure::engine)?,
            ))
        }
        Action::SetRoles(u, roles) => {
            let p = UserPatch::new(Some(roles.clone()), None, None)
                .map_err(|e| Failure::usage(e.to_string()))?;
            json(&UserView::of(
                &latch.update_user(u, &p).await.map_err(Failure::engine)?,
            ))
        }
        Action::CreateKey(name) => json(&NewApiKeyView::of(
            latch.create_api_key(name).await.map_err(Failure::engine)?,
        )),
        Action::ListKeys => {
            let keys = store
                .api_keys()
                .await
                .map_err(|e| Failure::engine(e.into()))?;
            let views: Vec<_> = keys.iter().map(ApiKeyView::of).collect();
            json!({ "api_keys": views })
        }
        Action::RevokeKey(id) => {
            if !latch.revoke_api_key(id).await.map_err(Failure::engine)? {
                return Err(Failure::not_found("no such API key"));
            }
            Value::Null
        }
        Action::ListSigningKeys | Action::RotateSigningKeys { .. } => {
            return Err(Failure::usage(
                "key commands run on the keyring, not the engine",
            ));
        }
    })
}

/// A view as the JSON the HTTP API would answer.
fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

async fn via_server(base: &str, action: &Action) -> Result<Value, Failure> {
    let key = std::env::var("LATCH_API_KEY").map_err(|_| {
        Failure::usage(
            "set LATCH_API_KEY to an API key of the server (see `latch api-keys create`)",
        )
    })?;
    let base = base.trim_end_matches('/');
    let u = |id: &UserId| encode(id.as_str());
    let (method, path, body) = match action {
        Action::ListSessions(id) => ("GET", format!("/v1/users/{}/sessions", u(id)), None),
        Action::RevokeSession(id) => ("DELETE", format!("/v1/sessions/{id}"), None),
        Action::RevokeAll(id, except) => {
            let q = except.map(|e| format!("?except={e}")).unwrap_or_default();
            ("DELETE", format!("/v1/users/{}/sessions{q}", u(id)), None)
        }
        Action::GetUser(id) => ("GET", format!("/v1/users/{}", u(id)), None),
        Action::SetStatus(id, s) => {
            let s = if *s == UserStatus::Blocked {
                "blocked"
            } else {
                "active"
            };
            (
                "PUT",
                format!("/v1/users/{}", u(id)),
                Some(json!({"status": s})),
            )
        }
        Action::SetRoles(id, roles) => (
            "PUT",
            format!("/v1/users/{}", u(id)),
            Some(json!({"roles": roles})),
        ),
        Action::CreateKey(name) => ("POST", "/v1/api-keys".into(), Some(json!({"name": name}))),
        Action::ListKeys => ("GET", "/v1/api-keys".into(), None),
        Action::RevokeKey(id) => ("DELETE", format!("/v1/api-keys/{}", encode(id)), None),
        Action::ListSigningKeys => ("GET", "/v1/keys".into(), None),
        Action::RotateSigningKeys { immediately } => (
            "POST",
            "/v1/keys/rotate".into(),
            Some(json!({ "immediately": immediately })),
        ),
    };
    let client = reqwest::Client::new();
    let method: reqwest::Method = method.parse().map_err(|_| Failure::usage("bad method"))?;
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| Failure::unavailable(format!("cannot reach the server at {base}: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(v);
    }
    let detail = v["detail"].as_str().unwrap_or(text.as_str()).to_owned();
    Err(match status.as_u16() {
        401 => Failure::refused(format!(
            "the server refused the API key in LATCH_API_KEY: {detail}"
        )),
        404 => Failure::not_found(detail),
        503 => Failure::unavailable(format!("the server's store is unavailable: {detail}")),
        _ => Failure::other(anyhow!("the server answered {status}: {detail}")),
    })
}

/// Percent-encodes a path segment.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
