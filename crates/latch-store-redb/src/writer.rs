//! Group commit: one thread owns every write transaction. Writers queue an [`Op`] and await
//! its reply; the thread takes everything queued (up to a batch limit) and applies it in one
//! transaction. Before that transaction commits, the batch's operations are appended to the
//! write-ahead log and fsynced (one small sequential write for the whole batch); only then is
//! the transaction committed, so nothing becomes visible before it is durable, and every
//! waiter is answered. Commits are not themselves fsynced except at checkpoints (every
//! [`crate::RedbOptions::checkpoint_interval`], when the log grows large, and at shutdown),
//! which record the last log record they include; the log is then emptied. After a crash,
//! [`recover`] replays the records past the last checkpoint: operations depend only on the
//! stored state and their arguments, so replaying them rebuilds exactly what was acknowledged.
//!
//! When the previous batch was large, the thread waits a little (at most [`GATHER_MAX`]) for
//! the writers it just answered to queue their next write, so batches stay large instead of
//! alternating between a full one and a nearly empty one that pays a whole fsync.
//!
//! Each operation reads what it needs before it writes, so one that is refused (a blocked user,
//! a stale verifier) writes nothing. If the shared transaction fails, the batch is retried one
//! operation per transaction, so one bad record fails only its own operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use latch_core::one_time::OneTimeRecord;
use latch_core::session::SessionRecord;
use latch_core::store::{
    ApiKeyRecord, CreateLimits, Created, StoreError, UserUpdated, evictions, is_live,
};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserPatch, UserStatus};
use redb::{Database, Durability, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use crate::codec;
use crate::tables::{self, Tables, WAL_LSN, unavailable};
use crate::wal::Wal;

/// A log this large forces a checkpoint, whatever the interval.
const MAX_WAL_BYTES: u64 = 64 << 20;

/// Batches at least this large make the next batch wait for stragglers.
const GATHER_FROM: usize = 8;
/// The longest a batch waits for stragglers.
pub(crate) const GATHER_MAX: Duration = Duration::from_micros(400);
const GATHER_STEP: Duration = Duration::from_micros(50);

/// A write, as queued for the writer thread.
pub(crate) enum Op {
    Create(SessionRecord, CreateLimits, Timestamp),
    Touch(SessionId, Timestamp),
    Rotate(SessionId, Verifier, Verifier, Timestamp),
    Delete(SessionId, Option<Verifier>),
    DeleteUserSessions(UserId, Option<SessionId>),
    UpdateUser(UserId, UserPatch),
    Sweep(Timestamp, usize),
    InsertApiKey(ApiKeyRecord),
    DeleteApiKey(String),
    InsertOneTime(OneTimeRecord),
    TakeOneTime([u8; 32]),
    PublishKeys(Vec<latch_core::store::PublishedKey>, Timestamp),
    /// Commit what came before, answer, and stop: later writes fail with `Closed`.
    Shutdown,
}

/// What an operation answers.
pub(crate) enum Reply {
    Created(Created),
    Session(Option<SessionRecord>),
    Ids(Vec<SessionId>),
    User(Box<UserUpdated>),
    Sessions(Vec<SessionRecord>),
    Done,
    Existed(bool),
    OneTime(Option<OneTimeRecord>),
}

/// A queued operation and where its answer goes (`None` for fire-and-forget touches).
pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) reply: Option<oneshot::Sender<Result<Reply, StoreError>>>,
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) db: Arc<Database>,
    pub(crate) wal: Wal,
    pub(crate) max_batch: usize,
    pub(crate) checkpoint_every: Duration,
    pub(crate) last_checkpoint: Instant,
    /// Set when the log and the database may disagree; every later write is refused until a
    /// restart replays the log.
    pub(crate) broken: Option<String>,
}

/// Runs until every sender is gone or a shutdown is processed, committing batch after batch.
pub(crate) fn run(mut w: Writer, mut rx: mpsc::Receiver<Job>) {
    let max_batch = w.max_batch;
    let mut batch = Vec::with_capacity(max_batch);
    let mut previous = 0;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        let mut stopping = drain(&mut rx, &mut batch, max_batch);
        if previous >= GATHER_FROM {
            let want = (previous * 3 / 4).min(max_batch);
            let deadline = Instant::now() + GATHER_MAX;
            while !stopping && batch.len() < want && Instant::now() < deadline {
                std::thread::sleep(GATHER_STEP);
                stopping = drain(&mut rx, &mut batch, max_batch);
            }
        }
        previous = batch.len();
        w.commit_batch(&mut batch, stopping);
        if stopping {
            rx.close();
            while let Ok(job) = rx.try_recv() {
                if let Some(tx) = job.reply {
                    let _ = tx.send(Err(StoreError::Closed));
                }
            }
            return;
        }
    }
    // Every handle is gone without a shutdown: still leave a checkpoint behind.
    w.commit_batch(&mut Vec::new(), true);
}

/// Moves queued jobs into the batch, stopping after a shutdown; true if one was taken.
fn drain(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, max_batch: usize) -> bool {
    if batch.last().is_some_and(|j| matches!(j.op, Op::Shutdown)) {
        return true;
    }
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(job) => {
                let stop = matches!(job.op, Op::Shutdown);
                batch.push(job);
                if stop {
                    return true;
                }
            }
            Err(_) => break,
        }
    }
    false
}

impl Writer {
    fn commit_batch(&mut self, batch: &mut Vec<Job>, stopping: bool) {
        let durable = stopping
            || self.last_checkpoint.elapsed() >= self.checkpoint_every
            || self.wal.len() >= MAX_WAL_BYTES;
        if batch.is_empty() && !durable {
            return;
        }
        match self.write(batch, durable) {
            Ok(replies) => {
                for (job, r) in batch.drain(..).zip(replies) {
                    if let Some(tx) = job.reply {
                        let _ = tx.send(r);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = batch.len(), "embedded store write failed");
                let msg = e.to_string();
                for job in batch.drain(..) {
                    if let Some(tx) = job.reply {
                        let _ = tx.send(Err(StoreError::Unavailable(msg.clone())));
                    }
                }
            }
        }
    }

    /// Applies the jobs in one transaction, logs them, commits. A job refused on its own merits
    /// (a corrupt record) gets its error in the list; any other error fails the whole batch and
    /// leaves neither the log nor the database changed.
    fn write(
        &mut self,
        jobs: &[Job],
        durable: bool,
    ) -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
        if let Some(why) = &self.broken {
            return Err(StoreError::Unavailable(why.clone()));
        }
        let mut txn = self.db.begin_write().map_err(unavailable)?;
        if !durable {
            txn.set_durability(Durability::None).map_err(unavailable)?;
        }
        let mut replies = Vec::with_capacity(jobs.len());
        let payloads: Vec<Vec<u8>> = jobs
            .iter()
            .filter_map(|j| codec::encode_op(&j.op))
            .collect();
        let mark = self.wal.mark();
        {
            let mut t = Tables::open(&txn)?;
            for job in jobs {
                match apply(&mut t, &job.op) {
                    Ok(r) => replies.push(Ok(r)),
                    Err(e @ StoreError::Corrupt(_)) => replies.push(Err(e)),
                    Err(e) => return Err(e),
                }
            }
            if !payloads.is_empty() {
                self.wal
                    .append(&payloads)
                    .map_err(|e| self.undo(mark, &e))?;
            }
            if durable {
                t.meta
                    .insert(WAL_LSN, self.wal.last_lsn().to_le_bytes().as_slice())
                    .map_err(|e| self.undo(mark, &e))?;
            }
        }
        txn.commit().map_err(|e| self.undo(mark, &e))?;
        if durable {
            self.last_checkpoint = Instant::now();
            // The log's records are all in the durable commit now; if emptying it fails,
            // recovery skips them by number.
            if let Err(e) = self.wal.reset() {
                tracing::warn!(error = %e, "could not empty the write-ahead log after a checkpoint");
            }
        }
        Ok(replies)
    }

    /// Takes back a logged batch whose transaction will not commit. If even that fails, the
    /// log may hold writes the database lacks: refuse writes until a restart replays them.
    fn undo(&mut self, mark: (u64, u64), e: &dyn std::fmt::Display) -> StoreError {
        if let Err(t) = self.wal.truncate_to(mark) {
            let why = format!("write-ahead log and database disagree ({t}); restart to recover");
            tracing::error!(error = %why, "embedded store refuses writes");
            self.broken = Some(why);
        }
        unavailable(e)
    }
}

/// Replays the log records past the last checkpoint into a durable commit, then empties the
/// log. Called once when the store is opened, before any write.
pub(crate) fn recover(db: &Database, wal_path: &std::path::Path) -> Result<Wal, StoreError> {
    let (mut wal, records) = Wal::open(wal_path).map_err(unavailable)?;
    let done = tables::checkpointed_lsn(db)?;
    wal.skip_to(done);
    let pending: Vec<_> = records.into_iter().filter(|r| r.lsn > done).collect();
    if let Some(last) = pending.last().map(|r| r.lsn) {
        let txn = db.begin_write().map_err(unavailable)?;
        {
            let mut t = Tables::open(&txn)?;
            for r in &pending {
                match apply(&mut t, &codec::decode_op(&r.payload)?) {
                    Ok(_) | Err(StoreError::Corrupt(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            t.meta
                .insert(WAL_LSN, last.to_le_bytes().as_slice())
                .map_err(unavailable)?;
        }
        txn.commit().map_err(unavailable)?;
        tracing::info!(records = pending.len(), "replayed the write-ahead log");
    }
    wal.reset().map_err(unavailable)?;
    Ok(wal)
}

fn apply(t: &mut Tables<'_>, op: &Op) -> Result<Reply, StoreError> {
    match op {
        Op::Create(s, limits, now) => create(t, s, *limits, *now).map(Reply::Created),
        Op::Touch(id, at) => touch(t, id, *at).map(|()| Reply::Done),
        Op::Rotate(id, cur, next, now) => rotate(t, id, cur, *next, *now).map(Reply::Session),
        Op::Delete(id, expected) => delete(t, id, expected.as_ref()).map(Reply::Session),
        Op::DeleteUserSessions(user, except) => {
            delete_user_sessions(t, user, except.as_ref()).map(Reply::Ids)
        }
        Op::UpdateUser(id, patch) => update_user(t, id, patch).map(|u| Reply::User(Box::new(u))),
        Op::Sweep(now, limit) => sweep(t, *now, *limit).map(Reply::Sessions),
        Op::InsertApiKey(k) => {
            t.api_keys
                .insert(k.id.as_str(), codec::encode_api_key(k).as_slice())
                .map_err(unavailable)?;
            Ok(Reply::Done)
        }
        Op::DeleteApiKey(id) => {
            let existed = t
                .api_keys
                .remove(id.as_str())
                .map_err(unavailable)?
                .is_some();
            Ok(Reply::Existed(existed))
        }
        Op::InsertOneTime(r) => {
            t.one_time
                .insert(r.hash.as_slice(), codec::encode_one_time(r).as_slice())
                .map_err(unavailable)?;
            t.one_time_expiry
                .insert(codec::one_time_expiry_key(r).as_slice(), ())
                .map_err(unavailable)?;
            Ok(Reply::Done)
        }
        Op::TakeOneTime(hash) => take_one_time(t, hash).map(Reply::OneTime),
        Op::PublishKeys(keys, now) => {
            let rows: Vec<_> = keys
                .iter()
                .map(|k| (k.kid.clone(), crate::published::KeyRow::of(k)))
                .collect();
            crate::published::apply(t, &rows, *now).map(|()| Reply::Done)
        }
        Op::Shutdown => Ok(Reply::Done),
    }
}

/// Reads and deletes in the one write transaction: of two takes, one gets the record.
fn take_one_time(t: &mut Tables<'_>, hash: &[u8; 32]) -> Result<Option<OneTimeRecord>, StoreError> {
    let raw = t
        .one_time
        .get(hash.as_slice())
        .map_err(unavailable)?
        .map(|v| v.value().to_vec());
    let Some(raw) = raw else {
        return Ok(None);
    };
    let r = codec::decode_one_time(*hash, &raw)?;
    t.one_time.remove(hash.as_slice()).map_err(unavailable)?;
    t.one_time_expiry
        .remove(codec::one_time_expiry_key(&r).as_slice())
        .map_err(unavailable)?;
    Ok(Some(r))
}

/// Deletes one-time tokens that expired by `now`.
fn sweep_one_time(t: &mut Tables<'_>, now: Timestamp, limit: usize) -> Result<(), StoreError> {
    let end = now.as_millis().saturating_add(1).to_be_bytes();
    let mut due = Vec::new();
    for entry in t
        .one_time_expiry
        .range(..end.as_slice())
        .map_err(unavailable)?
    {
        let (k, _) = entry.map_err(unavailable)?;
        due.push(k.value().to_vec());
        if due.len() >= limit {
            break;
        }
    }
    for k in due {
        t.one_time_expiry
            .remove(k.as_slice())
            .map_err(unavailable)?;
        if let Some(hash) = k.get(8..) {
            t.one_time.remove(hash).map_err(unavailable)?;
        }
    }
    Ok(())
}

fn create(
    t: &mut Tables<'_>,
    s: &SessionRecord,
    limits: CreateLimits,
    now: Timestamp,
) -> Result<Created, StoreError> {
    let user = t.user(&s.user_id)?;
    if user
        .as_ref()
        .is_some_and(|u| u.status == UserStatus::Blocked)
    {
        return Ok(Created::UserBlocked);
    }
    let cap = u64::from(limits.max_sessions_per_user.max(1));
    let mut dead = Vec::new();
    let mut evicted = Vec::new();
    // Below the cap even counting sessions not yet swept: nothing to read.
    if t.user_session_count(&s.user_id)? >= cap {
        let mut live = Vec::new();
        for (raw, id) in t.user_index(&s.user_id)? {
            match t.session(&id)? {
                Some(old) if is_live(&old, now) => live.push((old.created_at, id)),
                _ => dead.push((raw, id)),
            }
        }
        evicted = evictions(live, limits.max_sessions_per_user);
    }
    // Checks are done; from here on only writes.
    if user.is_none() {
        t.put_user(&User::new(s.user_id.clone()))?;
    }
    for (raw, id) in &dead {
        t.remove_session(id)?;
        // An index entry whose session is already gone goes too.
        t.by_user
            .remove(s.user_id.as_str(), raw.as_slice())
            .map_err(unavailable)?;
    }
    for id in &evicted {
        t.remove_session(id)?;
    }
    t.put_session(s, None)?;
    Ok(Created::Created { evicted })
}

fn touch(t: &mut Tables<'_>, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
    let Some(old) = t.session(id)? else {
        return Ok(());
    };
    if at <= old.last_seen_at || !is_live(&old, at) {
        return Ok(());
    }
    let mut new = old.clone();
    new.last_seen_at = at;
    t.put_session(&new, Some(&old))
}

fn rotate(
    t: &mut Tables<'_>,
    id: &SessionId,
    current: &Verifier,
    next: Verifier,
    now: Timestamp,
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(old) = t.session(id)? else {
        return Ok(None);
    };
    if !old.verifier.ct_eq(current) || !is_live(&old, now) {
        return Ok(None);
    }
    let mut new = old.clone();
    new.verifier = next;
    new.last_seen_at = old.last_seen_at.max(now);
    t.put_session(&new, Some(&old))?;
    Ok(Some(new))
}

fn delete(
    t: &mut Tables<'_>,
    id: &SessionId,
    expected: Option<&Verifier>,
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(s) = t.session(id)? else {
        return Ok(None);
    };
    if expected.is_some_and(|v| !s.verifier.ct_eq(v)) {
        return Ok(None);
    }
    t.remove_session(id)
}

fn delete_user_sessions(
    t: &mut Tables<'_>,
    user: &UserId,
    except: Option<&SessionId>,
) -> Result<Vec<SessionId>, StoreError> {
    let mut gone = Vec::new();
    for (raw, id) in t.user_index(user)? {
        if Some(&id) == except {
            continue;
        }
        if t.remove_session(&id)?.is_some() {
            gone.push(id);
        } else {
            t.by_user
                .remove(user.as_str(), raw.as_slice())
                .map_err(unavailable)?;
        }
    }
    Ok(gone)
}

fn update_user(
    t: &mut Tables<'_>,
    id: &UserId,
    patch: &UserPatch,
) -> Result<UserUpdated, StoreError> {
    let before = t.user(id)?;
    let mut after = before.clone().unwrap_or_else(|| User::new(id.clone()));
    after.apply(patch);
    let revoked = if after.status == UserStatus::Blocked {
        delete_user_sessions(t, id, None)?
    } else {
        Vec::new()
    };
    t.put_user(&after)?;
    Ok(UserUpdated {
        before,
        after,
        revoked,
    })
}

fn sweep(
    t: &mut Tables<'_>,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<SessionRecord>, StoreError> {
    sweep_one_time(t, now, limit)?;
    let mut due = Vec::new();
    let end = now.as_millis().saturating_add(1).to_be_bytes();
    for entry in t.expiry.range(..end.as_slice()).map_err(unavailable)? {
        let (k, _) = entry.map_err(unavailable)?;
        due.push(k.value().to_vec());
        if due.len() >= limit {
            break;
        }
    }
    let mut gone = Vec::new();
    for k in due {
        let id = codec::session_id(&k[8..])?;
        match t.session(&id)? {
            Some(s) if !is_live(&s, now) => {
                t.remove_session(&id)?;
                gone.push(s);
            }
            // A key that no longer matches its session (should not happen): drop it.
            _ => {
                t.expiry.remove(k.as_slice()).map_err(unavailable)?;
            }
        }
    }
    Ok(gone)
}
