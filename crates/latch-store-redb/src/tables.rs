//! The tables and the reads and writes every operation is built from.
//!
//! | table           | key                       | value                          |
//! |-----------------|---------------------------|--------------------------------|
//! | `sessions`      | session id (16 bytes)     | session record                 |
//! | `user_sessions` | user id (multimap)        | created-at (8, BE) ‖ id (18)   |
//! | `expiry`        | ends-at (8, BE) ‖ id (18) | ()                             |
//! | `users`         | user id                   | user record                    |
//! | `api_keys`      | key id                    | name, SHA-256 of the key, time |
//! | `meta`          | name                      | schema version                 |
//! | `one_time`      | SHA-256 of the token      | user, purpose, expiry          |
//! | `one_time_expiry` | expiry (8, BE) ‖ hash   | ()                             |
//! | `published_keys` | key id                   | public JWK, published until    |
//!
//! The user index orders a user's sessions oldest first and counts them in O(1), so the
//! per-user cap costs nothing until a user reaches it.

use latch_core::session::SessionRecord;
use latch_core::store::StoreError;
use latch_core::token::SessionId;
use latch_core::user::{User, UserId};
use redb::{
    MultimapTable, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    Table, TableDefinition, WriteTransaction,
};

use crate::codec;

pub(crate) const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
pub(crate) const USER_SESSIONS: MultimapTableDefinition<&str, &[u8]> =
    MultimapTableDefinition::new("user_sessions");
pub(crate) const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");
pub(crate) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
pub(crate) const API_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const ONE_TIME: TableDefinition<&[u8], &[u8]> = TableDefinition::new("one_time");
pub(crate) const ONE_TIME_EXPIRY: TableDefinition<&[u8], ()> =
    TableDefinition::new("one_time_expiry");

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
        let mut t = Tables::open(&txn)?;
        let meta = &mut t.meta;
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

/// The meta key holding the last log record folded into a durable commit.
pub(crate) const WAL_LSN: &str = "wal_lsn";

/// The last log record number that a durable commit includes (0 if none).
pub(crate) fn checkpointed_lsn(db: &redb::Database) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let t = txn.open_table(META).map_err(unavailable)?;
    let v = t.get(WAL_LSN).map_err(unavailable)?;
    Ok(v.and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map_or(0, u64::from_le_bytes))
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

/// The user-index value of a session: created-at then id, so values sort oldest first.
pub(crate) fn index_value(s: &SessionRecord) -> [u8; 26] {
    let mut v = [0u8; 26];
    v[..8].copy_from_slice(&s.created_at.as_millis().to_be_bytes());
    v[8..].copy_from_slice(s.id.as_bytes());
    v
}

/// Every table, opened once per write transaction and shared by the batch's operations.
pub(crate) struct Tables<'txn> {
    pub(crate) sessions: Table<'txn, &'static [u8], &'static [u8]>,
    pub(crate) by_user: MultimapTable<'txn, &'static str, &'static [u8]>,
    pub(crate) expiry: Table<'txn, &'static [u8], ()>,
    pub(crate) users: Table<'txn, &'static str, &'static [u8]>,
    pub(crate) api_keys: Table<'txn, &'static str, &'static [u8]>,
    pub(crate) meta: Table<'txn, &'static str, &'static [u8]>,
    pub(crate) one_time: Table<'txn, &'static [u8], &'static [u8]>,
    pub(crate) one_time_expiry: Table<'txn, &'static [u8], ()>,
    pub(crate) published: Table<'txn, &'static str, &'static [u8]>,
}

impl<'txn> Tables<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            sessions: txn.open_table(SESSIONS).map_err(unavailable)?,
            by_user: txn
                .open_multimap_table(USER_SESSIONS)
                .map_err(unavailable)?,
            expiry: txn.open_table(EXPIRY).map_err(unavailable)?,
            users: txn.open_table(USERS).map_err(unavailable)?,
            api_keys: txn.open_table(API_KEYS).map_err(unavailable)?,
            meta: txn.open_table(META).map_err(unavailable)?,
            one_time: txn.open_table(ONE_TIME).map_err(unavailable)?,
            one_time_expiry: txn.open_table(ONE_TIME_EXPIRY).map_err(unavailable)?,
            published: txn
                .open_table(crate::published::PUBLISHED_KEYS)
                .map_err(unavailable)?,
        })
    }

    pub(crate) fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let v = self
            .sessions
            .get(id.as_bytes().as_slice())
            .map_err(unavailable)?;
        v.map(|v| codec::decode_session(*id, v.value())).transpose()
    }

    /// Writes a session and its index entries; `old` is the record it replaces, if any.
    pub(crate) fn put_session(
        &mut self,
        s: &SessionRecord,
        old: Option<&SessionRecord>,
    ) -> Result<(), StoreError> {
        if let Some(old) = old {
            self.expiry
                .remove(codec::expiry_key(old).as_slice())
                .map_err(unavailable)?;
        }
        self.expiry
            .insert(codec::expiry_key(s).as_slice(), ())
            .map_err(unavailable)?;
        self.sessions
            .insert(
                s.id.as_bytes().as_slice(),
                codec::encode_session(s).as_slice(),
            )
            .map_err(unavailable)?;
        if old.is_none() {
            self.by_user
                .insert(s.user_id.as_str(), index_value(s).as_slice())
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Deletes a session and its index entries; returns it if it existed.
    pub(crate) fn remove_session(
        &mut self,
        id: &SessionId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let Some(s) = self.session(id)? else {
            return Ok(None);
        };
        self.sessions
            .remove(id.as_bytes().as_slice())
            .map_err(unavailable)?;
        self.expiry
            .remove(codec::expiry_key(&s).as_slice())
            .map_err(unavailable)?;
        self.by_user
            .remove(s.user_id.as_str(), index_value(&s).as_slice())
            .map_err(unavailable)?;
        Ok(Some(s))
    }

    /// How many sessions are indexed under a user (live or awaiting the sweeper); O(1).
    pub(crate) fn user_session_count(&self, user: &UserId) -> Result<u64, StoreError> {
        Ok(self.by_user.get(user.as_str()).map_err(unavailable)?.len())
    }

    /// The user's index entries, oldest first: (raw value, id).
    pub(crate) fn user_index(
        &self,
        user: &UserId,
    ) -> Result<Vec<([u8; 26], SessionId)>, StoreError> {
        let mut out = Vec::new();
        for v in self.by_user.get(user.as_str()).map_err(unavailable)? {
            let v = v.map_err(unavailable)?;
            let raw: [u8; 26] = v
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt("user index entry is not 26 bytes".into()))?;
            out.push((raw, codec::session_id(&raw[8..])?));
        }
        Ok(out)
    }

    pub(crate) fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let v = self.users.get(id.as_str()).map_err(unavailable)?;
        v.map(|v| codec::decode_user(id, v.value())).transpose()
    }

    pub(crate) fn put_user(&mut self, u: &User) -> Result<(), StoreError> {
        self.users
            .insert(u.id.as_str(), codec::encode_user(u).as_slice())
            .map_err(unavailable)?;
        Ok(())
    }
}
