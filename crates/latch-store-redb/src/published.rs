//! Published signing keys: the public JWKs every node serves at `/.well-known/jwks.json`.
//! One row per key id; a publish replaces its rows and drops the ones past their time.

use latch_core::store::{PublishedKey, StoreError};
use latch_core::time::Timestamp;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::tables::{Tables, unavailable};

pub(crate) const PUBLISHED_KEYS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("published_keys");

#[derive(Deserialize, Serialize)]
pub(crate) struct KeyRow {
    jwk: String,
    until: u64,
}

impl KeyRow {
    pub(crate) fn of(k: &PublishedKey) -> Self {
        Self {
            jwk: k.jwk.clone(),
            until: k.until.as_millis(),
        }
    }

    fn into_key(self, kid: &str) -> PublishedKey {
        PublishedKey {
            kid: kid.to_owned(),
            jwk: self.jwk,
            until: Timestamp::from_millis(self.until),
        }
    }
}

/// Replaces the rows of `keys` and deletes rows whose time has passed at `now`.
pub(crate) fn apply(
    t: &mut Tables<'_>,
    keys: &[(String, KeyRow)],
    now: Timestamp,
) -> Result<(), StoreError> {
    for (kid, row) in keys {
        t.published
            .insert(kid.as_str(), encode(row).as_slice())
            .map_err(unavailable)?;
    }
    let mut gone = Vec::new();
    for e in t.published.iter().map_err(unavailable)? {
        let (k, v) = e.map_err(unavailable)?;
        let row: KeyRow = decode("published key", v.value())?;
        if row.until <= now.as_millis() {
            gone.push(k.value().to_owned());
        }
    }
    for kid in gone {
        t.published.remove(kid.as_str()).map_err(unavailable)?;
    }
    Ok(())
}

/// Every key still published at `now`, by id.
pub(crate) fn read(db: &redb::Database, now: Timestamp) -> Result<Vec<PublishedKey>, StoreError> {
    let txn = db.begin_read().map_err(unavailable)?;
    let t = txn.open_table(PUBLISHED_KEYS).map_err(unavailable)?;
    let mut out = Vec::new();
    for e in t.iter().map_err(unavailable)? {
        let (k, v) = e.map_err(unavailable)?;
        let row: KeyRow = decode("published key", v.value())?;
        if row.until > now.as_millis() {
            out.push(row.into_key(k.value()));
        }
    }
    Ok(out)
}
