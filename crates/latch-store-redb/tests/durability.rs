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

/// The child half of `acknowledged_writes_survive_an_abort`: does nothing unless the parent set
/// `LATCH_CRASH_CHILD_DIR`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(dir) = std::env::var("LATCH_CRASH_CHILD_DIR") else {
        return;
    };
    let mut opts = RedbOptions::default();
    // No checkpoint after the first: everything below lives only in the write-ahead log.
    opts.checkpoint_interval = std::time::Duration::from_secs(3600);
    let store =
        Arc::new(RedbStore::open(&std::path::Path::new(&dir).join("latch.redb"), opts).unwrap());
    let h = Harness::new(Arc::clone(&store) as Arc<dyn Store>);
    let mut lines = Vec::new();
    for i in 0..40 {
        let s = h.create(&format!("crash-{}", i % 4), None, None).await;
        if i % 3 == 0 {
            h.latch.revoke_token(s.token.expose()).await.unwrap();
            lines.push(format!("revoked {}", s.token.expose()));
        } else {
            lines.push(format!("created {}", s.token.expose()));
        }
    }
    let block = UserPatch::new(Some(vec!["r".into()]), Some(UserStatus::Blocked), None).unwrap();
    h.latch
        .update_user(&UserId::new("crash-3").unwrap(), &block)
        .await
        .unwrap();
    lines.push("blocked crash-3".into());
    std::fs::write(std::path::Path::new(&dir).join("acked"), lines.join("\n")).unwrap();
    // Like kill -9: no destructor runs, no checkpoint, no clean close.
    std::process::abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env("LATCH_CRASH_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have aborted");
    let acked = std::fs::read_to_string(dir.path().join("acked")).unwrap();
    assert!(
        std::fs::metadata(dir.path().join("latch.redb-wal"))
            .unwrap()
            .len()
            > 0,
        "the log holds the writes"
    );
    let store =
        Arc::new(RedbStore::open(&dir.path().join("latch.redb"), RedbOptions::default()).unwrap());
    let h = Harness::new(Arc::clone(&store) as Arc<dyn Store>);
    let blocked = UserId::new("crash-3").unwrap();
    let u = h.latch.user(&blocked).await.unwrap().unwrap();
    assert_eq!(
        (u.status, u.roles.as_slice()),
        (UserStatus::Blocked, ["r".to_owned()].as_slice())
    );
    let mut live = 0;
    for line in acked.lines() {
        let (what, token) = line.split_once(' ').unwrap();
        if what == "blocked" {
            continue;
        }
        let active = h.latch.validate(token).await.unwrap().is_active();
        let owner_blocked = store
            .session(latch_core::token::ParsedToken::parse(token).unwrap().id())
            .await
            .unwrap()
            .is_none()
            && what == "created";
        match what {
            "revoked" => assert!(!active, "an acknowledged revocation was lost"),
            // Sessions of the blocked user are gone; every other acknowledged create is there.
            _ if owner_blocked => assert!(!active),
            _ => {
                assert!(active, "an acknowledged create was lost");
                live += 1;
            }
        }
    }
    assert!(live >= 15, "{live}");
    // Recovery checkpointed and emptied the log.
    assert_eq!(
        std::fs::metadata(dir.path().join("latch.redb-wal"))
            .unwrap()
            .len(),
        0
    );
}
