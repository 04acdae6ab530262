//! Latch's embedded store: one durable local database file (redb), no server to run.
//!
//! - Every acknowledged write is in the fsynced write-ahead log (`<file>-wal`) before the call
//!   returns, so it survives `kill -9` and power loss; the database is made durable at
//!   checkpoints and the log replayed on open.
//! - Concurrent writes share commits ([`writer`]): one writer thread batches whatever is
//!   queued into one transaction and one log fsync.
//! - Reads (validation on a cache miss, listings) run in MVCC read transactions that never
//!   wait for the writer; validation never needs a write transaction.
//! - Expired sessions are found through an expiry index and deleted in batches by
//!   [`latch_core::Latch::sweep`].
//!
//! One process opens a data dir at a time (redb locks the file); admin commands against a
//! running server go through its HTTP API.
//!
//! # Layout
//! - [`tables`]: the tables and the per-record reads and writes.
//! - [`codec`]: versioned record encoding.
//! - [`writer`]: the group-commit thread, the write operations, recovery.
//! - [`wal`]: the write-ahead log file.

#![forbid(unsafe_code)]

mod codec;
mod published;
mod tables;
mod wal;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use latch_core::session::SessionRecord;
use latch_core::store::{
    ApiKeyRecord, CreateLimits, Created, Result, Store, StoreError, UserUpdated, is_live,
};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserPatch};
use redb::{
    Database, ReadableDatabase, ReadableMultimapTable, ReadableTable, ReadableTableMetadata,
};
use tokio::sync::{mpsc, oneshot};

use crate::tables::{API_KEYS, SESSIONS, USER_SESSIONS, USERS, unavailable};
use crate::writer::{Job, Op, Reply};

/// Tuning for the embedded store.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RedbOptions {
    /// The most operations committed together. Default 1024.
    pub max_batch: usize,
    /// Writes queued beyond this wait (backpressure); refreshes beyond it are dropped.
    /// Default 16 384.
    pub queue: usize,
    /// Verify every page's checksum when opening, so a file damaged outside redb is refused
    /// with an error rather than trusted. Reads the whole file once at start. Default true.
    pub check_integrity_on_open: bool,
    /// How often the database itself is made durable (a checkpoint); in between, durability
    /// comes from the write-ahead log. Longer means fewer large fsyncs and a longer log to
    /// replay after a crash. Default 1 s.
    pub checkpoint_interval: std::time::Duration,
}

impl Default for RedbOptions {
    fn default() -> Self {
        Self {
            max_batch: 1024,
            queue: 16_384,
            check_integrity_on_open: true,
            checkpoint_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// Why the embedded store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file is locked by another process: most likely a running `latch serve`.
    #[error(
        "the database {0} is in use by another process (is `latch serve` running on this data dir? use its HTTP API instead)"
    )]
    InUse(String),
    /// Anything else redb reported.
    #[error("cannot open the database {path}: {reason}")]
    Other {
        /// The database file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The file holds data this version cannot read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The embedded store.
pub struct RedbStore {
    /// Shared with the writer thread; reads open their own transactions.
    db: Arc<Database>,
    /// Queue into the writer thread.
    jobs: mpsc::Sender<Job>,
    /// The writer thread, joined by [`RedbStore::close`].
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RedbStore {
    /// Opens (or creates) the database file at `path` and starts the writer thread.
    ///
    /// # Errors
    /// [`OpenError`] if the file is locked, unreadable, or from another schema version.
    pub fn open(path: &Path, options: RedbOptions) -> Result<Self, OpenError> {
        let db = Database::builder()
            .set_check_integrity_on_open(options.check_integrity_on_open)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    OpenError::InUse(path.display().to_string())
                }
                e => OpenError::Other {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                },
            })?;
        tables::init(&db)?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal = writer::recover(&db, Path::new(&wal_path))?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let w = writer::Writer {
            db: Arc::clone(&db),
            wal,
            max_batch: options.max_batch.max(1),
            checkpoint_every: options.checkpoint_interval,
            last_checkpoint: std::time::Instant::now(),
            broken: None,
        };
        let handle = std::thread::Builder::new()
            .name("latch-redb-writer".into())
            .spawn(move || writer::run(w, rx))
            .map_err(|e| OpenError::Other {
                path: path.display().to_string(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            db,
            jobs: tx,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Stops taking writes, commits everything queued, and waits for the writer thread. Writes
    /// after this fail with [`StoreError::Closed`]. The file is released once the store is
    /// dropped.
    pub async fn close(&self) {
        let handle = self.writer.lock().ok().and_then(|mut h| h.take());
        // Answered once everything queued before it is committed.
        let _ = self.write(Op::Shutdown).await;
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    async fn write(&self, op: Op) -> Result<Reply> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                op,
                reply: Some(tx),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn read<T>(&self, f: impl FnOnce(&redb::ReadTransaction) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        f(&txn)
    }
}

fn unexpected() -> StoreError {
    StoreError::Corrupt("the writer answered a different operation".into())
}

#[async_trait]
impl Store for RedbStore {
    async fn create_session(
        &self,
        session: SessionRecord,
        limits: CreateLimits,
        now: Timestamp,
    ) -> Result<Created> {
        match self.write(Op::Create(session, limits, now)).await? {
            Reply::Created(c) => Ok(c),
            _ => Err(unexpected()),
        }
    }

    async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>> {
        tables::read_session(&self.db, id)
    }

    fn touch_session(&self, id: SessionId, last_seen: Timestamp) {
        // Best effort: when the queue is full the refresh is dropped, which only makes the
        // idle expiry a little earlier.
        let _ = self.jobs.try_send(Job {
            op: Op::Touch(id, last_seen),
            reply: None,
        });
    }

    async fn rotate_session(
        &self,
        id: &SessionId,
        current: &Verifier,
        next: Verifier,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>> {
        match self.write(Op::Rotate(*id, *current, next, now)).await? {
            Reply::Session(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    async fn delete_session(
        &self,
        id: &SessionId,
        expected: Option<&Verifier>,
    ) -> Result<Option<SessionRecord>> {
        match self.write(Op::Delete(*id, expected.copied())).await? {
            Reply::Session(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    async fn delete_user_sessions(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<Vec<SessionId>> {
        match self
            .write(Op::DeleteUserSessions(user.clone(), except.copied()))
            .await?
        {
            Reply::Ids(ids) => Ok(ids),
            _ => Err(unexpected()),
        }
    }

    async fn user_sessions(&self, user: &UserId, now: Timestamp) -> Result<Vec<SessionRecord>> {
        let mut out = self.read(|txn| {
            let by_user = txn
                .open_multimap_table(USER_SESSIONS)
                .map_err(unavailable)?;
            let sessions = txn.open_table(SESSIONS).map_err(unavailable)?;
            let mut out = Vec::new();
            for v in by_user.get(user.as_str()).map_err(unavailable)? {
                let raw = v.map_err(unavailable)?;
                let id = codec::session_id(raw.value().get(8..).unwrap_or_default())?;
                if let Some(raw) = sessions
                    .get(id.as_bytes().as_slice())
                    .map_err(unavailable)?
                {
                    let s = codec::decode_session(id, raw.value())?;
                    if is_live(&s, now) {
                        out.push(s);
                    }
                }
            }
            Ok(out)
        })?;
        out.sort_by_key(|s| (s.created_at, s.id));
        Ok(out)
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>> {
        self.read(|txn| {
            let t = txn.open_table(USERS).map_err(unavailable)?;
            let v = t.get(id.as_str()).map_err(unavailable)?;
            v.map(|v| codec::decode_user(id, v.value())).transpose()
        })
    }

    async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<UserUpdated> {
        match self
            .write(Op::UpdateUser(id.clone(), patch.clone()))
            .await?
        {
            Reply::User(u) => Ok(*u),
            _ => Err(unexpected()),
        }
    }

    async fn sweep_expired(&self, now: Timestamp, limit: usize) -> Result<Vec<SessionRecord>> {
        match self.write(Op::Sweep(now, limit)).await? {
            Reply::Sessions(s) => Ok(s),
            _ => Err(unexpected()),
        }
    }

    async fn session_count(&self) -> Result<u64> {
        self.read(|txn| {
            let t = txn.open_table(SESSIONS).map_err(unavailable)?;
            t.len().map_err(unavailable)
        })
    }

    async fn insert_one_time(&self, record: latch_core::one_time::OneTimeRecord) -> Result<()> {
        match self.write(Op::InsertOneTime(record)).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    async fn take_one_time(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<latch_core::one_time::OneTimeRecord>> {
        match self.write(Op::TakeOneTime(*hash)).await? {
            Reply::OneTime(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> Result<()> {
        match self.write(Op::InsertApiKey(key)).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        self.read(|txn| {
            let t = txn.open_table(API_KEYS).map_err(unavailable)?;
            let mut out = Vec::new();
            for e in t.range(..).map_err(unavailable)? {
                let (k, v) = e.map_err(unavailable)?;
                out.push(codec::decode_api_key(k.value(), v.value())?);
            }
            Ok(out)
        })
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool> {
        match self.write(Op::DeleteApiKey(id.to_owned())).await? {
            Reply::Existed(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    async fn publish_keys(
        &self,
        keys: &[latch_core::store::PublishedKey],
        now: Timestamp,
    ) -> Result<()> {
        match self.write(Op::PublishKeys(keys.to_vec(), now)).await? {
            Reply::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    async fn published_keys(&self, now: Timestamp) -> Result<Vec<latch_core::store::PublishedKey>> {
        published::read(&self.db, now)
    }

    async fn ping(&self) -> Result<()> {
        self.read(|txn| txn.open_table(SESSIONS).map(|_| ()).map_err(unavailable))
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}
