//! What only a durable store promises: every acknowledged write is there after a reopen, and
//! one process holds the file at a time.

use std::sync::Arc;

use latch_core::store::Store;
use latch_core::time::Clock;
use latch_core::user::{UserId, UserPatch, UserStatus};
use latch_store_redb::{OpenError, RedbOptions, RedbStore};
use latch_store_tests::{Harness, unique_user};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latch.redb");
    let store = Arc::new(RedbStore::open(&path, RedbOptions::default()).unwrap());
    let h = Harness::new(Arc::clone(&store) as Arc<dyn Store>);
    let kept_user = unique_user("kept");
    let kept = h.create(&kept_user, None, None).await;
    let revoked = h.create(&kept_user, None, None).await;
    h.latch.revoke_token(revoked.token.expose()).await.unwrap();
    let blocked_user = unique_user("blocked");
    let blocked = h.create(&blocked_user, None, None).await;
    let block = UserPatch::new(Some(vec!["x".into()]), Some(UserStatus::Blocked), None).unwrap();
    h.latch
        .update_user(&UserId::new(&blocked_user).unwrap(), &block)
        .await
        .unwrap();

    // A second open of the same file is refused while the first holds it.
    assert!(matches!(
        RedbStore::open(&path, RedbOptions::default()),
        Err(OpenError::InUse(_))
    ));

    store.close().await;
    assert!(
        store
            .insert_api_key(
                latch_core::api_key::generate("x", h.clock.now())
                    .unwrap()
                    .record
            )
            .await
            .is_err()
    );
    drop(h);
    drop(store);

    let store = Arc::new(RedbStore::open(&path, RedbOptions::default()).unwrap());
    let h2 = Harness::new(Arc::clone(&store) as Arc<dyn Store>);
    assert!(
        h2.latch
            .validate(kept.token.expose())
            .await
            .unwrap()
            .is_active()
    );
    assert!(
        !h2.latch
            .validate(revoked.token.expose())
            .await
            .unwrap()
            .is_active()
    );
    assert!(
        !h2.latch
            .validate(blocked.token.expose())
            .await
            .unwrap()
            .is_active()
    );
    let u = h2
        .latch
        .user(&UserId::new(&blocked_user).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.status, UserStatus::Blocked);
    assert_eq!(u.roles, ["x"]);
    assert_eq!(store.session_count().await.unwrap(), 1);
}
