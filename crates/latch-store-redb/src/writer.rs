//! Group commit: one thread owns every write transaction. Writers queue an [`Op`] and await
//! its reply; the thread takes everything queued (up to a batch limit), applies it in one
//! transaction, commits once (one fsync), then answers every waiter. With 64 concurrent
//! clients the fsync is shared by dozens of writes instead of paid by each.
//!
//! Each operation reads what it needs before it writes, so one that is refused (a blocked user,
//! a stale verifier) writes nothing. If the shared transaction fails, the batch is retried one
//! operation per transaction, so one bad record fails only its own operation.

use std::sync::Arc;

use latch_core::session::SessionRecord;
use latch_core::store::{
    ApiKeyRecord, CreateLimits, Created, StoreError, UserUpdated, evictions, is_live,
};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserPatch, UserStatus};
use redb::{Database, ReadableTable, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::codec;
use crate::tables::{self, API_KEYS, EXPIRY, unavailable};

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
}

/// A queued operation and where its answer goes (`None` for fire-and-forget touches).
pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) reply: Option<oneshot::Sender<Result<Reply, StoreError>>>,
}

/// Runs until every sender is gone, then returns after the last batch is committed.
pub(crate) fn run(db: Arc<Database>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut stopping = false;
    while let Some(first) = rx.blocking_recv() {
        stopping = matches!(first.op, Op::Shutdown);
        batch.push(first);
        while !stopping && batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    stopping = matches!(job.op, Op::Shutdown);
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        commit_batch(&db, &mut batch);
        if stopping {
            break;
        }
    }
    if stopping {
        rx.close();
        while let Ok(job) = rx.try_recv() {
            if let Some(tx) = job.reply {
                let _ = tx.send(Err(StoreError::Closed));
            }
        }
    }
}

fn commit_batch(db: &Database, batch: &mut Vec<Job>) {
    match apply_all(db, batch) {
        Ok(replies) => {
            for (job, r) in batch.drain(..).zip(replies) {
                if let Some(tx) = job.reply {
                    let _ = tx.send(r);
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; retrying one operation per transaction");
            for job in batch.drain(..) {
                let r = apply_all(db, std::slice::from_ref(&job))
                    .and_then(|mut v| v.pop().unwrap_or(Err(StoreError::Closed)));
                if let Some(tx) = job.reply {
                    let _ = tx.send(r);
                }
            }
        }
    }
}

/// Applies every job in one transaction and commits. A job refused on its own merits gets its
/// error in the list; an error from the database itself aborts everything.
fn apply_all(db: &Database, jobs: &[Job]) -> Result<Vec<Result<Reply, StoreError>>, StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        match apply(&txn, &job.op) {
            Ok(r) => replies.push(Ok(r)),
            // A corrupt record is refused before anything is written for this op.
            Err(e @ StoreError::Corrupt(_)) => replies.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    txn.commit().map_err(unavailable)?;
    Ok(replies)
}

fn apply(txn: &WriteTransaction, op: &Op) -> Result<Reply, StoreError> {
    match op {
        Op::Create(s, limits, now) => create(txn, s, *limits, *now).map(Reply::Created),
        Op::Touch(id, at) => touch(txn, id, *at).map(|()| Reply::Done),
        Op::Rotate(id, cur, next, now) => rotate(txn, id, cur, *next, *now).map(Reply::Session),
        Op::Delete(id, expected) => delete(txn, id, expected.as_ref()).map(Reply::Session),
        Op::DeleteUserSessions(user, except) => {
            delete_user_sessions(txn, user, except.as_ref()).map(Reply::Ids)
        }
        Op::UpdateUser(id, patch) => update_user(txn, id, patch).map(|u| Reply::User(Box::new(u))),
        Op::Sweep(now, limit) => sweep(txn, *now, *limit).map(Reply::Sessions),
        Op::InsertApiKey(k) => {
            let mut t = txn.open_table(API_KEYS).map_err(unavailable)?;
            t.insert(k.id.as_str(), codec::encode_api_key(k).as_slice())
                .map_err(unavailable)?;
            Ok(Reply::Done)
        }
        Op::Shutdown => Ok(Reply::Done),
        Op::DeleteApiKey(id) => {
            let mut t = txn.open_table(API_KEYS).map_err(unavailable)?;
            let existed = t.remove(id.as_str()).map_err(unavailable)?.is_some();
            Ok(Reply::Existed(existed))
        }
    }
}

fn create(
    txn: &WriteTransaction,
    s: &SessionRecord,
    limits: CreateLimits,
    now: Timestamp,
) -> Result<Created, StoreError> {
    let user = tables::get_user(txn, &s.user_id)?;
    if user
        .as_ref()
        .is_some_and(|u| u.status == UserStatus::Blocked)
    {
        return Ok(Created::UserBlocked);
    }
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for id in tables::user_session_ids(txn, &s.user_id)? {
        match tables::get_session(txn, &id)? {
            Some(old) if is_live(&old, now) => live.push((old.created_at, id)),
            _ => dead.push(id),
        }
    }
    let evicted = evictions(live, limits.max_sessions_per_user);
    // Checks are done; from here on only writes.
    if user.is_none() {
        tables::put_user(txn, &User::new(s.user_id.clone()))?;
    }
    for id in dead.iter().chain(&evicted) {
        tables::remove_session(txn, id)?;
        // An index entry whose session is already gone is removed here too.
        let mut by_user = txn
            .open_multimap_table(tables::USER_SESSIONS)
            .map_err(unavailable)?;
        by_user
            .remove(s.user_id.as_str(), id.as_bytes().as_slice())
            .map_err(unavailable)?;
    }
    tables::put_session(txn, s, None)?;
    Ok(Created::Created { evicted })
}

fn touch(txn: &WriteTransaction, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
    let Some(old) = tables::get_session(txn, id)? else {
        return Ok(());
    };
    if at <= old.last_seen_at || !is_live(&old, at) {
        return Ok(());
    }
    let mut new = old.clone();
    new.last_seen_at = at;
    tables::put_session(txn, &new, Some(&old))
}

fn rotate(
    txn: &WriteTransaction,
    id: &SessionId,
    current: &Verifier,
    next: Verifier,
    now: Timestamp,
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(old) = tables::get_session(txn, id)? else {
        return Ok(None);
    };
    if !old.verifier.ct_eq(current) || !is_live(&old, now) {
        return Ok(None);
    }
    let mut new = old.clone();
    new.verifier = next;
    new.last_seen_at = old.last_seen_at.max(now);
    tables::put_session(txn, &new, Some(&old))?;
    Ok(Some(new))
}

fn delete(
    txn: &WriteTransaction,
    id: &SessionId,
    expected: Option<&Verifier>,
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(s) = tables::get_session(txn, id)? else {
        return Ok(None);
    };
    if expected.is_some_and(|v| !s.verifier.ct_eq(v)) {
        return Ok(None);
    }
    tables::remove_session(txn, id)
}

fn delete_user_sessions(
    txn: &WriteTransaction,
    user: &UserId,
    except: Option<&SessionId>,
) -> Result<Vec<SessionId>, StoreError> {
    let mut gone = Vec::new();
    for id in tables::user_session_ids(txn, user)? {
        if Some(&id) != except && tables::remove_session(txn, &id)?.is_some() {
            gone.push(id);
        }
    }
    Ok(gone)
}

fn update_user(
    txn: &WriteTransaction,
    id: &UserId,
    patch: &UserPatch,
) -> Result<UserUpdated, StoreError> {
    let before = tables::get_user(txn, id)?;
    let mut after = before.clone().unwrap_or_else(|| User::new(id.clone()));
    after.apply(patch);
    let revoked = if after.status == UserStatus::Blocked {
        delete_user_sessions(txn, id, None)?
    } else {
        Vec::new()
    };
    tables::put_user(txn, &after)?;
    Ok(UserUpdated {
        before,
        after,
        revoked,
    })
}

fn sweep(
    txn: &WriteTransaction,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<SessionRecord>, StoreError> {
    let mut due = Vec::new();
    {
        let expiry = txn.open_table(EXPIRY).map_err(unavailable)?;
        let end = (now.as_millis().saturating_add(1)).to_be_bytes();
        for entry in expiry.range(..end.as_slice()).map_err(unavailable)? {
            let (k, _) = entry.map_err(unavailable)?;
            due.push(k.value().to_vec());
            if due.len() >= limit {
                break;
            }
        }
    }
    let mut gone = Vec::new();
    for k in due {
        let id = codec::session_id(&k[8..])?;
        match tables::get_session(txn, &id)? {
            Some(s) if !is_live(&s, now) => {
                tables::remove_session(txn, &id)?;
                gone.push(s);
            }
            // A live session under an old expiry key (should not happen): drop the stray key.
            _ => {
                let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;
                expiry.remove(k.as_slice()).map_err(unavailable)?;
            }
        }
    }
    Ok(gone)
}
