//! The conformance tests, one function each; [`crate::store_conformance!`] expands them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use latch_core::policy::Policy;
use latch_core::store::{ApiKeyRecord, Store};
use latch_core::time::{Clock, Timestamp};
use latch_core::user::{UserId, UserPatch, UserStatus};
use latch_core::{Error, Inactive, Validation};
use serde_json::json;

use crate::{Harness, new_session, unique_user};

mod keys;
pub use keys::*;

fn active(v: Validation) -> latch_core::ActiveSession {
    match v {
        Validation::Active(a) => a,
        Validation::Inactive(why) => panic!("expected active, got inactive: {why:?}"),
    }
}

fn inactive(v: Validation) -> Inactive {
    match v {
        Validation::Active(a) => panic!("expected inactive, got active {:?}", a.record().id),
        Validation::Inactive(why) => why,
    }
}

fn uid(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

fn dyn_store<S: Store>(s: Arc<S>) -> Arc<dyn Store> {
    s
}

/// Create, validate (active, with session and user), log out, validate (inactive); logout is
/// idempotent.
pub async fn create_validate_revoke<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("cvr");
    let s = h.create(&user, None, None).await;
    assert_eq!(s.session.user_id.as_str(), user);
    assert_eq!(s.session.idle_timeout_ms, 30 * 60 * 1000);
    assert_eq!(
        s.session.expires_at.as_millis() - s.session.created_at.as_millis(),
        8 * 3600 * 1000
    );
    let a = active(h.latch.validate(s.token.expose()).await.unwrap());
    assert_eq!(a.record().id, s.session.id);
    assert_eq!(a.user().id.as_str(), user);
    assert_eq!(a.user().status, UserStatus::Active);
    assert_eq!(
        a.record().device.user_agent.as_deref(),
        Some("conformance/1.0")
    );
    // A cold engine (another node, or after a restart) sees the same.
    active(h.cold_engine().validate(s.token.expose()).await.unwrap());
    h.latch.revoke_token(s.token.expose()).await.unwrap();
    assert_eq!(
        inactive(h.latch.validate(s.token.expose()).await.unwrap()),
        Inactive::Unknown
    );
    assert_eq!(
        inactive(h.cold_engine().validate(s.token.expose()).await.unwrap()),
        Inactive::Unknown
    );
    h.latch.revoke_token(s.token.expose()).await.unwrap();
    h.latch.revoke_token("garbage").await.unwrap();
    assert!(h.store.session(&s.session.id).await.unwrap().is_none());
}

/// Malformed, forged and stale tokens are inactive; malformed and forged ones never reach the
/// store.
pub async fn bad_tokens_are_inactive<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("bad"), None, None).await;
    let t = s.token.expose();
    for bad in [
        "",
        "latch_s_",
        "Bearer x",
        &t[..t.len() - 1],
        &format!("{t}A"),
    ] {
        assert_eq!(
            inactive(h.latch.validate(bad).await.unwrap()),
            Inactive::Malformed
        );
    }
    // Same shape, different tag: rejected as forged by the tag check.
    let mut forged = t.as_bytes().to_vec();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let cold = h.cold_engine();
    assert_eq!(
        inactive(cold.validate(&forged).await.unwrap()),
        Inactive::Forged
    );
    // A token under another key (another deployment) is forged too.
    let other = latch_core::token::TokenKey::from_bytes(&[1; 32])
        .issue(s.session.id)
        .unwrap();
    assert_eq!(
        inactive(cold.validate(other.token.expose()).await.unwrap()),
        Inactive::Forged
    );
    // Warm cache: a forged tag is still refused.
    active(h.latch.validate(t).await.unwrap());
    assert!(
        !h.latch.validate(&forged).await.unwrap().is_active(),
        "a forged token must not validate against a warm cache"
    );
}

/// Rotation gives a new token for the same session; the old one is dead at once; creation time
/// and absolute expiry are kept.
pub async fn rotate_replaces_the_token<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("rot"), None, None).await;
    active(h.latch.validate(s.token.expose()).await.unwrap());
    h.advance(5);
    let r = h.latch.rotate(s.token.expose()).await.unwrap().unwrap();
    assert_ne!(r.token, s.token);
    assert_eq!(r.session.id, s.session.id);
    assert_eq!(r.session.created_at, s.session.created_at);
    assert_eq!(r.session.expires_at, s.session.expires_at);
    assert_eq!(
        inactive(h.latch.validate(s.token.expose()).await.unwrap()),
        Inactive::WrongSecret
    );
    assert_eq!(
        inactive(h.cold_engine().validate(s.token.expose()).await.unwrap()),
        Inactive::WrongSecret
    );
    active(h.latch.validate(r.token.expose()).await.unwrap());
    active(h.cold_engine().validate(r.token.expose()).await.unwrap());
}

/// Revocation by id: true once, then false; the token is dead everywhere.
pub async fn revoke_by_id<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("rid"), None, None).await;
    active(h.latch.validate(s.token.expose()).await.unwrap());
    assert!(h.latch.revoke_session(&s.session.id).await.unwrap());
    assert!(!h.latch.revoke_session(&s.session.id).await.unwrap());
    assert_eq!(
        inactive(h.latch.validate(s.token.expose()).await.unwrap()),
        Inactive::Unknown
    );
}

/// A user's sessions are listed oldest first with device details; revoke-all spares one.
pub async fn list_and_revoke_all_except_one<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("list");
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(h.create(&user, None, None).await);
        h.clock.advance(Duration::from_millis(10));
    }
    let other = h.create(&unique_user("list-other"), None, None).await;
    let listed = h.latch.user_sessions(&uid(&user)).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|s| s.id).collect();
    assert_eq!(ids, made.iter().map(|s| s.session.id).collect::<Vec<_>>());
    assert_eq!(listed[0].device.ip, "192.0.2.7".parse().ok());
    let keep = made[1].session.id;
    let n = h
        .latch
        .revoke_user_sessions(&uid(&user), Some(&keep))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let listed = h.latch.user_sessions(&uid(&user)).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), vec![keep]);
    inactive(h.latch.validate(made[0].token.expose()).await.unwrap());
    active(h.latch.validate(made[1].token.expose()).await.unwrap());
    active(h.latch.validate(other.token.expose()).await.unwrap());
    assert_eq!(
        h.latch
            .revoke_user_sessions(&uid(&user), None)
            .await
            .unwrap(),
        1
    );
    assert!(h.latch.user_sessions(&uid(&user)).await.unwrap().is_empty());
    assert_eq!(
        h.latch
            .user_sessions(&uid(&unique_user("nobody")))
            .await
            .unwrap(),
        vec![]
    );
}

/// A role change shows on the very next validation, even with a warm cache.
pub async fn role_change_shows_on_next_validation<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("roles");
    let s = h.create(&user, None, None).await;
    let patch = UserPatch::new(Some(vec!["admin".into()]), None, None).unwrap();
    h.latch.update_user(&uid(&user), &patch).await.unwrap();
    let a = active(h.latch.validate(s.token.expose()).await.unwrap());
    assert_eq!(a.user().roles, ["admin"]);
    let patch = UserPatch::new(Some(vec!["viewer".into()]), None, None).unwrap();
    h.latch.update_user(&uid(&user), &patch).await.unwrap();
    let a = active(h.latch.validate(s.token.expose()).await.unwrap());
    assert_eq!(a.user().roles, ["viewer"]);
    assert!(!a.user().has_role("admin"));
}

/// Blocking revokes every session and refuses new ones; unblocking allows new ones but does not
/// bring old ones back.
pub async fn block_revokes_and_refuses<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("block");
    let a = h.create(&user, None, None).await;
    let b = h.create(&user, None, None).await;
    active(h.latch.validate(a.token.expose()).await.unwrap());
    let block = UserPatch::new(None, Some(UserStatus::Blocked), None).unwrap();
    let u = h.latch.update_user(&uid(&user), &block).await.unwrap();
    assert_eq!(u.status, UserStatus::Blocked);
    for t in [&a, &b] {
        inactive(h.latch.validate(t.token.expose()).await.unwrap());
        inactive(h.cold_engine().validate(t.token.expose()).await.unwrap());
    }
    assert!(h.latch.user_sessions(&uid(&user)).await.unwrap().is_empty());
    let err = h
        .latch
        .create_session(new_session(&user, None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UserBlocked), "{err:?}");
    let unblock = UserPatch::new(None, Some(UserStatus::Active), None).unwrap();
    h.latch.update_user(&uid(&user), &unblock).await.unwrap();
    let c = h.create(&user, None, None).await;
    active(h.latch.validate(c.token.expose()).await.unwrap());
    inactive(h.latch.validate(a.token.expose()).await.unwrap());
}

/// Beyond the per-user cap the oldest session goes.
pub async fn session_cap_ends_the_oldest<S: Store>(store: Arc<S>) {
    let mut policy = Policy::default();
    policy.max_sessions_per_user = 3;
    let h = Harness::with_policy(dyn_store(store), policy);
    let user = unique_user("cap");
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(h.create(&user, None, None).await);
        h.clock.advance(Duration::from_millis(5));
    }
    assert_eq!(
        inactive(h.latch.validate(made[0].token.expose()).await.unwrap()),
        Inactive::Unknown
    );
    for s in &made[1..] {
        active(h.latch.validate(s.token.expose()).await.unwrap());
    }
    assert_eq!(h.latch.user_sessions(&uid(&user)).await.unwrap().len(), 3);
}

/// Unused past the idle timeout: inactive, on a warm and a cold cache.
pub async fn idle_timeout_expires<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("idle"), Some(60), None).await;
    h.advance(59);
    let cold = h.cold_engine();
    // Look without refreshing: a cold engine's first look would refresh, so use the store.
    let rec = h.store.session(&s.session.id).await.unwrap().unwrap();
    assert_eq!(
        rec.idle_expires_at(),
        s.session.created_at.saturating_add(Duration::from_secs(60))
    );
    h.advance(2);
    assert_eq!(
        inactive(h.latch.validate(s.token.expose()).await.unwrap()),
        Inactive::IdleExpired
    );
    assert_eq!(
        inactive(cold.validate(s.token.expose()).await.unwrap()),
        Inactive::IdleExpired
    );
    assert!(
        h.latch
            .user_sessions(&s.session.user_id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Use moves the idle window, and the store learns of it (another node would see it).
pub async fn use_refreshes_the_idle_window<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("refresh"), Some(60), None).await;
    h.advance(30);
    let a = active(h.latch.validate(s.token.expose()).await.unwrap());
    let used_at = h.clock.now();
    assert_eq!(a.last_seen_at(), used_at);
    assert_eq!(
        a.idle_expires_at(),
        used_at.saturating_add(Duration::from_secs(60))
    );
    // The refresh reaches the store (it is not awaited on the validation path).
    assert_eq!(stored_last_seen(&h, &s, used_at).await, used_at);
    // 50 s after the use (80 s after creation) the session lives, on both engines.
    h.advance(50);
    active(h.latch.validate(s.token.expose()).await.unwrap());
    active(h.cold_engine().validate(s.token.expose()).await.unwrap());
    let second_use = h.clock.now();
    assert_eq!(stored_last_seen(&h, &s, second_use).await, second_use);
    // A validation within the refresh interval does not write.
    h.clock.advance(Duration::from_millis(100));
    active(h.latch.validate(s.token.expose()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = h
        .store
        .session(&s.session.id)
        .await
        .unwrap()
        .unwrap()
        .last_seen_at;
    assert_eq!(
        after, second_use,
        "a refresh within the interval must not write"
    );
    h.advance(61);
    assert_eq!(
        inactive(h.latch.validate(s.token.expose()).await.unwrap()),
        Inactive::IdleExpired
    );
}

/// The stored last use, once it has reached `want` (waits up to 5 s for the unawaited refresh).
async fn stored_last_seen(
    h: &Harness,
    s: &latch_core::IssuedSession,
    want: Timestamp,
) -> Timestamp {
    let mut stored = Timestamp::default();
    for _ in 0..500 {
        stored = h
            .store
            .session(&s.session.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at;
        if stored >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stored
}

/// However much a session is used, it ends at its absolute timeout.
pub async fn absolute_timeout_expires_despite_use<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("abs"), Some(60), Some(10)).await;
    for _ in 0..3 {
        h.advance(3);
        active(h.latch.validate(s.token.expose()).await.unwrap());
    }
    h.advance(1);
    assert_eq!(
        inactive(h.latch.validate(s.token.expose()).await.unwrap()),
        Inactive::Expired
    );
    assert!(h.latch.rotate(s.token.expose()).await.unwrap().is_none());
}

/// Per-session timeouts go down to 1 s, are capped by the policy, and zero is refused with
/// nothing written.
pub async fn timeouts_are_capped_and_zero_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("caps");
    let s = h.create(&user, Some(1), Some(1)).await;
    assert_eq!(s.session.idle_timeout_ms, 1000);
    h.clock.advance(Duration::from_millis(999));
    active(h.latch.validate(s.token.expose()).await.unwrap());
    h.advance(1);
    inactive(h.latch.validate(s.token.expose()).await.unwrap());
    let big = h.create(&user, Some(u64::MAX), Some(u64::MAX)).await;
    let p = h.latch.policy();
    assert_eq!(
        big.session.idle_timeout_ms,
        p.max_idle_timeout.as_millis() as u64
    );
    assert_eq!(
        big.session.expires_at.as_millis() - big.session.created_at.as_millis(),
        p.max_absolute_timeout.as_millis() as u64
    );
    let zero_user = unique_user("zero");
    let err = h
        .latch
        .create_session(new_session(&zero_user, Some(0), None))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(h.latch.user(&uid(&zero_user)).await.unwrap().is_none());
}

/// The sweeper deletes what expired (and its index entries) and nothing else.
pub async fn sweep_removes_expired_sessions_and_index<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("sweep");
    let short: Vec<_> = futures_join(&h, &user, 5, Some(1)).await;
    let long = h.create(&user, Some(3600), None).await;
    let before = h.store.session_count().await.unwrap();
    h.advance(2);
    let swept = h.latch.sweep(2).await.unwrap();
    assert!(swept >= short.len(), "swept {swept} of {}", short.len());
    for s in &short {
        assert!(h.store.session(&s.session.id).await.unwrap().is_none());
    }
    assert!(h.store.session(&long.session.id).await.unwrap().is_some());
    assert!(h.store.session_count().await.unwrap() <= before - short.len() as u64);
    let listed = h.latch.user_sessions(&uid(&user)).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![long.session.id]
    );
    // Revoke-all after the sweep finds only the survivor: no stale index entries.
    assert_eq!(
        h.latch
            .revoke_user_sessions(&uid(&user), None)
            .await
            .unwrap(),
        1
    );
}

async fn futures_join(
    h: &Harness,
    user: &str,
    n: usize,
    idle: Option<u64>,
) -> Vec<latch_core::IssuedSession> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(h.create(user, idle, None).await);
    }
    out
}

/// Users are created by a change or implicitly by a session; changes replace only the fields
/// given.
pub async fn users_are_created_and_changed<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("users");
    assert!(h.latch.user(&uid(&user)).await.unwrap().is_none());
    let attrs = json!({"plan": "pro", "n": 3}).as_object().unwrap().clone();
    let p = UserPatch::new(
        Some(vec!["a".into(), "b".into()]),
        None,
        Some(attrs.clone()),
    )
    .unwrap();
    let u = h.latch.update_user(&uid(&user), &p).await.unwrap();
    assert_eq!(u.roles, ["a", "b"]);
    assert_eq!(u.attributes, attrs);
    assert_eq!(u.status, UserStatus::Active);
    let p = UserPatch::new(None, None, None).unwrap();
    let again = h.latch.update_user(&uid(&user), &p).await.unwrap();
    assert_eq!(again, u);
    assert_eq!(h.latch.user(&uid(&user)).await.unwrap(), Some(u));
    // A session's user exists from then on, active and without roles.
    let implicit = unique_user("implicit");
    h.create(&implicit, None, None).await;
    let u = h.latch.user(&uid(&implicit)).await.unwrap().unwrap();
    assert!(u.roles.is_empty() && u.status == UserStatus::Active);
}

/// API keys are stored as hashes, listed and deleted by id.
pub async fn api_keys_are_stored_hashed<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let k = latch_core::api_key::generate("conformance", h.clock.now()).unwrap();
    h.store.insert_api_key(k.record.clone()).await.unwrap();
    let keys: Vec<ApiKeyRecord> = h.store.api_keys().await.unwrap();
    let found = keys.iter().find(|r| r.id == k.record.id).unwrap();
    assert_eq!(found, &k.record);
    assert_eq!(found.hash, latch_core::token::sha256(k.key.0.as_bytes()));
    assert!(h.store.delete_api_key(&k.record.id).await.unwrap());
    assert!(!h.store.delete_api_key(&k.record.id).await.unwrap());
    assert!(
        !h.store
            .api_keys()
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == k.record.id)
    );
}

/// An old (rotated-away) token can neither rotate nor log out the session.
pub async fn rotated_or_expired_tokens_cannot_rotate_or_revoke<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("stale"), None, None).await;
    let r = h.latch.rotate(s.token.expose()).await.unwrap().unwrap();
    assert!(h.latch.rotate(s.token.expose()).await.unwrap().is_none());
    h.latch.revoke_token(s.token.expose()).await.unwrap();
    active(h.latch.validate(r.token.expose()).await.unwrap());
    h.latch.revoke_token(r.token.expose()).await.unwrap();
    inactive(h.latch.validate(r.token.expose()).await.unwrap());
}

/// A node whose cache still holds a session's old verifier (another node rotated it) accepts
/// the new token: a genuine token that does not match the cache is checked against the store.
pub async fn a_stale_cache_entry_does_not_refuse_a_rotated_token<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let s = h.create(&unique_user("stale-cache"), None, None).await;
    let other_node = h.cold_engine();
    active(other_node.validate(s.token.expose()).await.unwrap());
    let r = h.latch.rotate(s.token.expose()).await.unwrap().unwrap();
    active(other_node.validate(r.token.expose()).await.unwrap());
}

/// No validation that starts after a revoke returned accepts the session.
pub async fn revoke_racing_validate<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    for _ in 0..5 {
        let s = h.create(&unique_user("race-rv"), None, None).await;
        let token: Arc<str> = Arc::from(s.token.expose());
        let done = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (latch, token, done) =
                (Arc::clone(&h.latch), Arc::clone(&token), Arc::clone(&done));
            tasks.push(tokio::spawn(async move {
                loop {
                    let revoked_before = done.load(Ordering::SeqCst);
                    let v = latch.validate(&token).await.unwrap();
                    if revoked_before {
                        return !matches!(v, Validation::Active(_));
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        h.latch.revoke_session(&s.session.id).await.unwrap();
        done.store(true, Ordering::SeqCst);
        for t in tasks {
            assert!(
                t.await.unwrap(),
                "a validation after the revoke returned accepted the session"
            );
        }
    }
}

/// Sessions created while their user is being blocked never survive the block.
pub async fn create_racing_block<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    for _ in 0..5 {
        let user = unique_user("race-cb");
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let latch = Arc::clone(&h.latch);
            let user = user.clone();
            tasks.push(tokio::spawn(async move {
                latch.create_session(new_session(&user, None, None)).await
            }));
        }
        let block = UserPatch::new(None, Some(UserStatus::Blocked), None).unwrap();
        h.latch.update_user(&uid(&user), &block).await.unwrap();
        let mut tokens = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(s) => tokens.push(s.token),
                Err(Error::UserBlocked) => {}
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        for t in &tokens {
            inactive(h.latch.validate(t.expose()).await.unwrap());
            inactive(h.cold_engine().validate(t.expose()).await.unwrap());
        }
        assert!(h.latch.user_sessions(&uid(&user)).await.unwrap().is_empty());
    }
}

/// Of many concurrent rotations of one token exactly one wins, and only its token works.
pub async fn rotate_racing_rotate<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    for _ in 0..5 {
        let s = h.create(&unique_user("race-rr"), None, None).await;
        let token: Arc<str> = Arc::from(s.token.expose());
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (latch, token) = (Arc::clone(&h.latch), Arc::clone(&token));
            tasks.push(tokio::spawn(
                async move { latch.rotate(&token).await.unwrap() },
            ));
        }
        let mut winners = Vec::new();
        for t in tasks {
            if let Some(r) = t.await.unwrap() {
                winners.push(r);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one rotation must win");
        inactive(h.latch.validate(&token).await.unwrap());
        active(h.latch.validate(winners[0].token.expose()).await.unwrap());
        active(
            h.cold_engine()
                .validate(winners[0].token.expose())
                .await
                .unwrap(),
        );
    }
}

fn purpose(p: &str) -> latch_core::one_time::Purpose {
    latch_core::one_time::Purpose::new(p).unwrap()
}

/// A one-time token gives its user once, for its purpose; the store holds only its hash.
pub async fn one_time_tokens_work_once<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("ott");
    let t = h
        .latch
        .create_one_time(uid(&user), purpose("password_reset"), None)
        .await
        .unwrap();
    assert!(t.token.starts_with("latch_o_"));
    assert_eq!(t.record.hash, latch_core::token::sha256(t.token.as_bytes()));
    assert_eq!(
        t.record.expires_at.as_millis() - h.clock.now().as_millis(),
        600_000
    );
    let got = h
        .latch
        .consume_one_time(&t.token, &purpose("password_reset"))
        .await
        .unwrap();
    assert_eq!(got.as_ref().map(UserId::as_str), Some(user.as_str()));
    assert!(
        h.latch
            .consume_one_time(&t.token, &purpose("password_reset"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.store
            .take_one_time(&t.record.hash)
            .await
            .unwrap()
            .is_none()
    );
    for junk in ["", "latch_o_", "latch_o_x", &t.token.replace('_', "-")] {
        assert!(
            h.latch
                .consume_one_time(junk, &purpose("password_reset"))
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// Wrong purpose and expiry are refused the same way, and the attempt uses the token up.
pub async fn one_time_tokens_refuse_wrong_purpose_and_expiry_alike<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = unique_user("ott-p");
    let t = h
        .latch
        .create_one_time(uid(&user), purpose("email_verify"), Some(60))
        .await
        .unwrap();
    assert!(
        h.latch
            .consume_one_time(&t.token, &purpose("password_reset"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.latch
            .consume_one_time(&t.token, &purpose("email_verify"))
            .await
            .unwrap()
            .is_none()
    );
    let t = h
        .latch
        .create_one_time(uid(&user), purpose("email_verify"), Some(60))
        .await
        .unwrap();
    h.advance(61);
    assert!(
        h.latch
            .consume_one_time(&t.token, &purpose("email_verify"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Of many concurrent consumes of one token exactly one succeeds.
pub async fn one_time_consumes_racing<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    for _ in 0..5 {
        let t = h
            .latch
            .create_one_time(uid(&unique_user("ott-race")), purpose("magic_link"), None)
            .await
            .unwrap();
        let token: Arc<str> = Arc::from(t.token.as_str());
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (latch, token) = (Arc::clone(&h.latch), Arc::clone(&token));
            tasks.push(tokio::spawn(async move {
                latch
                    .consume_one_time(&token, &purpose("magic_link"))
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap().is_some());
        }
        assert_eq!(wins, 1, "exactly one consume must win");
    }
}

/// Lifetimes default to 10 minutes, are capped by the policy, zero is refused with nothing
/// stored, and the sweeper removes expired tokens.
pub async fn one_time_ttls_are_capped_and_swept<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let user = uid(&unique_user("ott-ttl"));
    let err = h
        .latch
        .create_one_time(user.clone(), purpose("p"), Some(0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    let big = h
        .latch
        .create_one_time(user.clone(), purpose("p"), Some(u64::MAX))
        .await
        .unwrap();
    assert_eq!(
        big.record.expires_at.as_millis() - h.clock.now().as_millis(),
        h.latch.policy().one_time_max_ttl.as_millis() as u64
    );
    let short = h
        .latch
        .create_one_time(user, purpose("p"), Some(1))
        .await
        .unwrap();
    h.advance(2);
    h.latch.sweep(100).await.unwrap();
    if !h.store.expires_on_its_own() {
        assert!(
            h.store
                .take_one_time(&short.record.hash)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        h.latch
            .consume_one_time(&short.token, &purpose("p"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.latch
            .consume_one_time(&big.token, &purpose("p"))
            .await
            .unwrap()
            .is_some()
    );
}
