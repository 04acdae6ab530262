//! The tables and the reads and writes every operation is built from.
//!
//! | table           | key                       | value                          |
//! |-----------------|---------------------------|--------------------------------|
//! | `sessions`      | session id (16 bytes)     | session record                 |
//! | `user_sessions` | user id (multimap)        | session ids                    |
//! | `expiry`        | ends-at (8, BE) ‖ id (16) | ()                             |
//! | `users`         | user id                   | user record                    |
//! | `api_keys`      | key id                    | name, SHA-256 of the key, time |
//! | `meta`          | name                      | schema version                 |

use latch_core::session::SessionRecord;
use latch_core::store::StoreError;
use latch_core::token::SessionId;
use latch_core::user::{User, UserId};
use redb::{
    MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    TableDefinition, WriteTransaction,
};

use crate::codec;

pub(crate) const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
pub(crate) const USER_SESSIONS: MultimapTableDefinition<&str, &[u8]> =
    MultimapTableDefinition::new("user_sessions");
pub(crate) const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");
pub(crate) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
pub(crate) const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The layout this version writes.
pub(crate) const SCHEMA_VERSION: u8 = 1;

/// Maps any redb error to an unavailable store: the disk is the store.
pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {e}"))
}

/// Creates the tables and checks or writes the schema version.
pub(crate) fn init(db: &redb::Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(unavailable)?;
    {
        txn.open_table(SESSIONS).map_err(unavailable)?;
        txn.open_multimap_table(USER_SESSIONS)
            .map_err(unavailable)?;
        txn.open_table(EXPIRY).map_err(unavailable)?;
        txn.open_table(USERS).map_err(unavailable)?;
        txn.open_table(API_KEYS).map_err(unavailable)?;
        let mut meta = txn.open_table(META).map_err(unavailable)?;
        let found = meta
            .get("schema_version")
            .map_err(unavailable)?
            .map(|v| v.value().to_vec());
        match found.as_deref() {
            None => {
                meta.insert("schema_version", [SCHEMA_VERSION].as_slice())
                    .map_err(unavailable)?;
            }
            Some([SCHEMA_VERSION]) => {}
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "the data dir has schema version {other:?}; this Latch reads version {SCHEMA_VERSION}"
                )));
            }
        }
    }
    txn.commit().map_err(unavailable)
}

/// Reads one session in a read transaction.
pub(crate) fn read_session(
    db: &redb::Database,
    id: &SessionId,
) -> Result<Option<SessionRecord>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let t = txn.open_table(SESSIONS).map_err(unavailable)?;
    let v = t.get(id.as_bytes().as_slice()).map_err(unavailable)?;
    v.map(|v| codec::decode_session(*id, v.value())).transpose()
}

/// A session inside a write transaction.
pub(crate) fn get_session(
    txn: &WriteTransaction,
    id: &SessionId,
) -> Result<Option<SessionRecord>, StoreError> {
    let t = txn.open_table(SESSIONS).map_err(unavailable)?;
    let v = t.get(id.as_bytes().as_slice()).map_err(unavailable)?;
    v.map(|v| codec::decode_session(*id, v.value())).transpose()
}

/// Writes a session and its index entries; `old` is the record it replaces, if any.
pub(crate) fn put_session(
    txn: &WriteTransaction,
    s: &SessionRecord,
    old: Option<&SessionRecord>,
) -> Result<(), StoreError> {
    let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;
    if let Some(old) = old {
        expiry
            .remove(codec::expiry_key(old).as_slice())
            .map_err(unavailable)?;
    }
    expiry
        .insert(codec::expiry_key(s).as_slice(), ())
        .map_err(unavailable)?;
    let mut sessions = txn.open_table(SESSIONS).map_err(unavailable)?;
    sessions
        .insert(
            s.id.as_bytes().as_slice(),
            codec::encode_session(s).as_slice(),
        )
        .map_err(unavailable)?;
    if old.is_none() {
        let mut by_user = txn
            .open_multimap_table(USER_SESSIONS)
            .map_err(unavailable)?;
        by_user
            .insert(s.user_id.as_str(), s.id.as_bytes().as_slice())
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Deletes a session and its index entries; returns it if it existed.
pub(crate) fn remove_session(
    txn: &WriteTransaction,
    id: &SessionId,
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(s) = get_session(txn, id)? else {
        return Ok(None);
    };
    let mut sessions = txn.open_table(SESSIONS).map_err(unavailable)?;
    sessions
        .remove(id.as_bytes().as_slice())
        .map_err(unavailable)?;
    let mut expiry = txn.open_table(EXPIRY).map_err(unavailable)?;
    expiry
        .remove(codec::expiry_key(&s).as_slice())
        .map_err(unavailable)?;
    let mut by_user = txn
        .open_multimap_table(USER_SESSIONS)
        .map_err(unavailable)?;
    by_user
        .remove(s.user_id.as_str(), id.as_bytes().as_slice())
        .map_err(unavailable)?;
    Ok(Some(s))
}

/// The ids indexed under a user, inside a write transaction.
pub(crate) fn user_session_ids(
    txn: &WriteTransaction,
    user: &UserId,
) -> Result<Vec<SessionId>, StoreError> {
    let by_user = txn
        .open_multimap_table(USER_SESSIONS)
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for v in by_user.get(user.as_str()).map_err(unavailable)? {
        out.push(codec::session_id(v.map_err(unavailable)?.value())?);
    }
    Ok(out)
}

/// A user inside a write transaction.
pub(crate) fn get_user(txn: &WriteTransaction, id: &UserId) -> Result<Option<User>, StoreError> {
    let t = txn.open_table(USERS).map_err(unavailable)?;
    let v = t.get(id.as_str()).map_err(unavailable)?;
    v.map(|v| codec::decode_user(id, v.value())).transpose()
}

/// Writes a user.
pub(crate) fn put_user(txn: &WriteTransaction, u: &User) -> Result<(), StoreError> {
    let mut t = txn.open_table(USERS).map_err(unavailable)?;
    t.insert(u.id.as_str(), codec::encode_user(u).as_slice())
        .map_err(unavailable)?;
    Ok(())
}
