//! Published signing keys and service tokens across nodes.

use std::sync::Arc;

use latch_core::service_token::{Ephemeral, Keyring, ServiceTokenPolicy, ServiceTokens};
use latch_core::store::{PublishedKey, Store};
use latch_core::time::{Clock, Timestamp};
use latch_core::user::UserPatch;
use latch_verify::{KeySet, Verifier};

use super::{active, dyn_store, uid};
use crate::{Harness, unique_user};

fn node(now: Timestamp) -> ServiceTokens {
    let mut p = ServiceTokenPolicy::default();
    p.audiences.insert("billing".into());
    ServiceTokens::new(p, Keyring::first(now).unwrap(), Arc::new(Ephemeral))
}

async fn key_set(store: &dyn Store, now: Timestamp) -> KeySet {
    let keys = store.published_keys(now).await.unwrap();
    let doc = format!(
        r#"{{"keys":[{}]}}"#,
        keys.iter()
            .map(|k| k.jwk.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    KeySet::from_jwks_json(doc.as_bytes()).unwrap()
}

/// A publish replaces a key's record by id (a shorter time as well as a longer one), and a
/// key is listed until its time and not after.
pub async fn published_keys_are_replaced_and_expire<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let now = h.clock.now();
    let ring = Keyring::first(now).unwrap();
    let (jwk, _) = ring.published(now).remove(0);
    let at = |ms: u64| Timestamp::from_millis(now.as_millis() + ms);
    let listed = |keys: Vec<PublishedKey>| keys.into_iter().find(|k| k.kid == jwk.kid);
    h.store
        .publish_keys(&[PublishedKey::new(&jwk, at(60_000))], now)
        .await
        .unwrap();
    let k = listed(h.store.published_keys(now).await.unwrap()).unwrap();
    assert_eq!(k.until, at(60_000));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&k.jwk).unwrap()["kid"],
        jwk.kid
    );
    h.store
        .publish_keys(&[PublishedKey::new(&jwk, at(5_000))], now)
        .await
        .unwrap();
    assert_eq!(
        listed(h.store.published_keys(now).await.unwrap())
            .unwrap()
            .until,
        at(5_000)
    );
    assert!(listed(h.store.published_keys(at(5_000)).await.unwrap()).is_none());
    // A later publish (of anything) may drop it for good.
    h.store.publish_keys(&[], at(6_000)).await.unwrap();
    assert!(listed(h.store.published_keys(now).await.unwrap()).is_none());
}

/// Two nodes on one store: each node's key set lists both nodes' keys, a service token minted
/// on one verifies with the key set served by the other, and an emergency rotation withdraws
/// the old key from every node's key set.
pub async fn service_tokens_verify_across_nodes<S: Store>(store: Arc<S>) {
    let h = Harness::new(dyn_store(store));
    let now = h.clock.now();
    let (a, b) = (node(now), node(now));
    a.publish(h.store.as_ref(), now).await.unwrap();
    b.publish(h.store.as_ref(), now).await.unwrap();
    let a_kid = a.keyring().signing(now).unwrap().kid().to_owned();
    let b_kid = b.keyring().signing(now).unwrap().kid().to_owned();
    let doc = b.jwks(h.store.as_ref(), now).await.unwrap();
    let set = KeySet::from_jwks_json(doc.as_bytes()).unwrap();
    assert!(
        set.get(&a_kid).is_some() && set.get(&b_kid).is_some(),
        "{doc}"
    );

    let user = unique_user("svc");
    h.latch
        .update_user(
            &uid(&user),
            &UserPatch::new(Some(vec!["admin".into()]), None, None).unwrap(),
        )
        .await
        .unwrap();
    let s = h.create(&user, None, None).await;
    let session = active(h.latch.validate(s.token.expose()).await.unwrap());
    assert!(a.allows("anyone", "billing") && !a.allows("anyone", "search"));
    let minted = a.mint(&session, "billing", now).unwrap();
    assert_eq!(minted.expires_in, 60);
    let secs = now.as_millis() / 1000;
    let claims = Verifier::new(set, "latch", "billing")
        .verify(&minted.jwt, secs)
        .unwrap();
    assert_eq!(claims.sub, user);
    assert_eq!(claims.sid, s.session.id.to_string());
    assert_eq!(claims.roles, ["admin"]);
    assert_eq!(claims.exp, secs + 60);

    a.rotate(h.store.as_ref(), now, true).await.unwrap();
    let later = Timestamp::from_millis(now.as_millis() + 2000);
    let set = key_set(h.store.as_ref(), later).await;
    assert!(
        set.get(&a_kid).is_none(),
        "the withdrawn key is still published"
    );
    assert!(set.get(&b_kid).is_some());
    let new_kid = a.keyring().signing(later).unwrap().kid().to_owned();
    assert!(set.get(&new_kid).is_some());
    let doc = b.jwks(h.store.as_ref(), later).await.unwrap();
    assert!(!doc.contains(&a_kid) && doc.contains(&new_kid));
}
