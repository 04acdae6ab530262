//! Record encoding: postcard with a leading version byte, so a future layout can be read next
//! to this one. Nothing here holds a secret: sessions carry only the verifier hash.

use std::net::IpAddr;

use latch_core::session::{Device, SessionRecord};
use latch_core::store::{ApiKeyRecord, StoreError};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserStatus};
use serde::{Deserialize, Serialize};

const V1: u8 = 1;

#[derive(Deserialize, Serialize)]
struct SessionRow {
    user_id: String,
    verifier: [u8; 32],
    created_at: u64,
    last_seen_at: u64,
    idle_timeout_ms: u64,
    expires_at: u64,
    user_agent: Option<String>,
    ip: Option<IpAddr>,
}

#[derive(Deserialize, Serialize)]
struct UserRow {
    roles: Vec<String>,
    blocked: bool,
    /// Compact JSON; postcard cannot carry `serde_json::Value` directly.
    attributes: String,
}

#[derive(Deserialize, Serialize)]
struct ApiKeyRow {
    name: String,
    hash: [u8; 32],
    created_at: u64,
}

fn encode<T: Serialize>(row: &T) -> Vec<u8> {
    let mut out = vec![V1];
    // Serializing these plain structs into a Vec cannot fail: no maps with non-string keys, no
    // sequences of unknown length, and the buffer grows as needed.
    out.extend(postcard::to_allocvec(row).unwrap_or_default());
    out
}

fn decode<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&V1, rest)) => postcard::from_bytes(rest)
            .map_err(|e| StoreError::Corrupt(format!("{what} record: {e}"))),
        Some((v, _)) => Err(StoreError::Corrupt(format!(
            "{what} record has unknown version {v}"
        ))),
        None => Err(StoreError::Corrupt(format!("{what} record is empty"))),
    }
}

pub(crate) fn encode_session(s: &SessionRecord) -> Vec<u8> {
    encode(&SessionRow {
        user_id: s.user_id.as_str().to_owned(),
        verifier: *s.verifier.as_bytes(),
        created_at: s.created_at.as_millis(),
        last_seen_at: s.last_seen_at.as_millis(),
        idle_timeout_ms: s.idle_timeout_ms,
        expires_at: s.expires_at.as_millis(),
        user_agent: s.device.user_agent.clone(),
        ip: s.device.ip,
    })
}

pub(crate) fn decode_session(id: SessionId, bytes: &[u8]) -> Result<SessionRecord, StoreError> {
    let r: SessionRow = decode("session", bytes)?;
    Ok(SessionRecord {
        id,
        user_id: UserId::new(&r.user_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        verifier: Verifier::from_bytes(r.verifier),
        created_at: Timestamp::from_millis(r.created_at),
        last_seen_at: Timestamp::from_millis(r.last_seen_at),
        idle_timeout_ms: r.idle_timeout_ms,
        expires_at: Timestamp::from_millis(r.expires_at),
        device: Device {
            user_agent: r.user_agent,
            ip: r.ip,
        },
    })
}

pub(crate) fn encode_user(u: &User) -> Vec<u8> {
    encode(&UserRow {
        roles: u.roles.clone(),
        blocked: u.status == UserStatus::Blocked,
        attributes: serde_json::Value::Object(u.attributes.clone()).to_string(),
    })
}

pub(crate) fn decode_user(id: &UserId, bytes: &[u8]) -> Result<User, StoreError> {
    let r: UserRow = decode("user", bytes)?;
    let Ok(serde_json::Value::Object(attributes)) = serde_json::from_str(&r.attributes) else {
        return Err(StoreError::Corrupt(
            "user attributes are not an object".into(),
        ));
    };
    Ok(User {
        id: id.clone(),
        roles: r.roles,
        status: if r.blocked {
            UserStatus::Blocked
        } else {
            UserStatus::Active
        },
        attributes,
    })
}

pub(crate) fn encode_api_key(k: &ApiKeyRecord) -> Vec<u8> {
    encode(&ApiKeyRow {
        name: k.name.clone(),
        hash: k.hash,
        created_at: k.created_at.as_millis(),
    })
}

pub(crate) fn decode_api_key(id: &str, bytes: &[u8]) -> Result<ApiKeyRecord, StoreError> {
    let r: ApiKeyRow = decode("api key", bytes)?;
    Ok(ApiKeyRecord {
        id: id.to_owned(),
        name: r.name,
        hash: r.hash,
        created_at: Timestamp::from_millis(r.created_at),
    })
}

/// The expiry index key: when the session stops being live, then its id, so a range scan from
/// the start finds the expired ones first.
pub(crate) fn expiry_key(s: &SessionRecord) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&s.ends_at().as_millis().to_be_bytes());
    k[8..].copy_from_slice(s.id.as_bytes());
    k
}

pub(crate) fn session_id(bytes: &[u8]) -> Result<SessionId, StoreError> {
    <[u8; 16]>::try_from(bytes)
        .map(SessionId::from_bytes)
        .map_err(|_| StoreError::Corrupt("session id is not 16 bytes".into()))
}
