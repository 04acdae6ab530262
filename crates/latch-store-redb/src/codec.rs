//! Record encoding: postcard with a leading version byte, so a future layout can be read next
//! to this one. Nothing here holds a secret: sessions carry only the verifier hash.

use std::net::IpAddr;

use latch_core::session::{Device, SessionRecord};
use latch_core::store::{ApiKeyRecord, CreateLimits, StoreError};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserPatch, UserStatus};
use serde::{Deserialize, Serialize};

use latch_core::one_time::{OneTimeRecord, Purpose};

use crate::writer::Op;

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
struct OneTimeRow {
    user_id: String,
    purpose: String,
    expires_at: u64,
}

pub(crate) fn encode_one_time(r: &OneTimeRecord) -> Vec<u8> {
    encode(&OneTimeRow {
        user_id: r.user_id.as_str().to_owned(),
        purpose: r.purpose.as_str().to_owned(),
        expires_at: r.expires_at.as_millis(),
    })
}

pub(crate) fn decode_one_time(hash: [u8; 32], bytes: &[u8]) -> Result<OneTimeRecord, StoreError> {
    let r: OneTimeRow = decode("one-time token", bytes)?;
    Ok(OneTimeRecord {
        hash,
        user_id: UserId::new(&r.user_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        purpose: Purpose::new(&r.purpose).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        expires_at: Timestamp::from_millis(r.expires_at),
    })
}

/// The one-time expiry index key: expiry then hash.
pub(crate) fn one_time_expiry_key(r: &OneTimeRecord) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&r.expires_at.as_millis().to_be_bytes());
    k[8..].copy_from_slice(&r.hash);
    k
}

#[derive(Deserialize, Serialize)]
struct ApiKeyRow {
    name: String,
    hash: [u8; 32],
    created_at: u64,
}

pub(crate) fn encode<T: Serialize>(row: &T) -> Vec<u8> {
    let mut out = vec![V1];
    // Serializing these plain structs into a Vec cannot fail: no maps with non-string keys, no
    // sequences of unknown length, and the buffer grows as needed.
    out.extend(postcard::to_allocvec(row).unwrap_or_default());
    out
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T, StoreError> {
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
pub(crate) fn expiry_key(s: &SessionRecord) -> [u8; 26] {
    let mut k = [0u8; 26];
    k[..8].copy_from_slice(&s.ends_at().as_millis().to_be_bytes());
    k[8..].copy_from_slice(s.id.as_bytes());
    k
}

pub(crate) fn session_id(bytes: &[u8]) -> Result<SessionId, StoreError> {
    <[u8; 18]>::try_from(bytes)
        .map(SessionId::from_bytes)
        .map_err(|_| StoreError::Corrupt("session id is not 18 bytes".into()))
}

/// A write as the log records it: everything needed to apply it again, deterministically.
#[derive(Deserialize, Serialize)]
enum LoggedOp {
    Create {
        id: [u8; 18],
        session: Vec<u8>,
        cap: u32,
        now: u64,
    },
    Touch {
        id: [u8; 18],
        at: u64,
    },
    Rotate {
        id: [u8; 18],
        current: [u8; 32],
        next: [u8; 32],
        now: u64,
    },
    Delete {
        id: [u8; 18],
        expected: Option<[u8; 32]>,
    },
    DeleteUserSessions {
        user: String,
        except: Option<[u8; 18]>,
    },
    UpdateUser {
        user: String,
        roles: Option<Vec<String>>,
        blocked: Option<bool>,
        attributes: Option<String>,
    },
    Sweep {
        now: u64,
        limit: u64,
    },
    InsertApiKey {
        id: String,
        record: Vec<u8>,
    },
    DeleteApiKey {
        id: String,
    },
    InsertOneTime {
        hash: [u8; 32],
        record: Vec<u8>,
    },
    TakeOneTime {
        hash: [u8; 32],
    },
    PublishKeys {
        /// Key id, JWK JSON, published until.
        keys: Vec<(String, String, u64)>,
        now: u64,
    },
}

/// The log record of a write; `None` for the shutdown marker, which changes nothing.
pub(crate) fn encode_op(op: &Op) -> Option<Vec<u8>> {
    let logged = match op {
        Op::Create(s, limits, now) => LoggedOp::Create {
            id: *s.id.as_bytes(),
            session: encode_session(s),
            cap: limits.max_sessions_per_user,
            now: now.as_millis(),
        },
        Op::Touch(id, at) => LoggedOp::Touch {
            id: *id.as_bytes(),
            at: at.as_millis(),
        },
        Op::Rotate(id, cur, next, now) => LoggedOp::Rotate {
            id: *id.as_bytes(),
            current: *cur.as_bytes(),
            next: *next.as_bytes(),
            now: now.as_millis(),
        },
        Op::Delete(id, expected) => LoggedOp::Delete {
            id: *id.as_bytes(),
            expected: expected.map(|v| *v.as_bytes()),
        },
        Op::DeleteUserSessions(user, except) => LoggedOp::DeleteUserSessions {
            user: user.as_str().to_owned(),
            except: except.map(|e| *e.as_bytes()),
        },
        Op::UpdateUser(user, patch) => LoggedOp::UpdateUser {
            user: user.as_str().to_owned(),
            roles: patch.roles().map(<[String]>::to_vec),
            blocked: patch.status().map(|s| s == UserStatus::Blocked),
            attributes: patch
                .attributes()
                .map(|a| serde_json::Value::Object(a.clone()).to_string()),
        },
        Op::Sweep(now, limit) => LoggedOp::Sweep {
            now: now.as_millis(),
            limit: *limit as u64,
        },
        Op::InsertApiKey(k) => LoggedOp::InsertApiKey {
            id: k.id.clone(),
            record: encode_api_key(k),
        },
        Op::DeleteApiKey(id) => LoggedOp::DeleteApiKey { id: id.clone() },
        Op::InsertOneTime(r) => LoggedOp::InsertOneTime {
            hash: r.hash,
            record: encode_one_time(r),
        },
        Op::TakeOneTime(hash) => LoggedOp::TakeOneTime { hash: *hash },
        Op::PublishKeys(keys, now) => LoggedOp::PublishKeys {
            keys: keys
                .iter()
                .map(|k| (k.kid.clone(), k.jwk.clone(), k.until.as_millis()))
                .collect(),
            now: now.as_millis(),
        },
        Op::Shutdown => return None,
    };
    Some(encode(&logged))
}

/// A write back from its log record.
pub(crate) fn decode_op(bytes: &[u8]) -> Result<Op, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("log record: {e}"));
    let user = |u: &str| UserId::new(u).map_err(|e| corrupt(&e));
    Ok(match decode::<LoggedOp>("log", bytes)? {
        LoggedOp::Create {
            id,
            session,
            cap,
            now,
        } => Op::Create(
            decode_session(SessionId::from_bytes(id), &session)?,
            CreateLimits {
                max_sessions_per_user: cap,
            },
            Timestamp::from_millis(now),
        ),
        LoggedOp::Touch { id, at } => {
            Op::Touch(SessionId::from_bytes(id), Timestamp::from_millis(at))
        }
        LoggedOp::Rotate {
            id,
            current,
            next,
            now,
        } => Op::Rotate(
            SessionId::from_bytes(id),
            Verifier::from_bytes(current),
            Verifier::from_bytes(next),
            Timestamp::from_millis(now),
        ),
        LoggedOp::Delete { id, expected } => Op::Delete(
            SessionId::from_bytes(id),
            expected.map(Verifier::from_bytes),
        ),
        LoggedOp::DeleteUserSessions { user: u, except } => {
            Op::DeleteUserSessions(user(&u)?, except.map(SessionId::from_bytes))
        }
        LoggedOp::UpdateUser {
            user: u,
            roles,
            blocked,
            attributes,
        } => {
            let attributes = match attributes.map(|a| serde_json::from_str(&a)) {
                None => None,
                Some(Ok(serde_json::Value::Object(m))) => Some(m),
                Some(_) => return Err(corrupt(&"attributes are not an object")),
            };
            let status = blocked.map(|b| {
                if b {
                    UserStatus::Blocked
                } else {
                    UserStatus::Active
                }
            });
            let patch = UserPatch::new(roles, status, attributes).map_err(|e| corrupt(&e))?;
            Op::UpdateUser(user(&u)?, patch)
        }
        LoggedOp::Sweep { now, limit } => Op::Sweep(
            Timestamp::from_millis(now),
            usize::try_from(limit).unwrap_or(usize::MAX),
        ),
        LoggedOp::InsertApiKey { id, record } => Op::InsertApiKey(decode_api_key(&id, &record)?),
        LoggedOp::DeleteApiKey { id } => Op::DeleteApiKey(id),
        LoggedOp::InsertOneTime { hash, record } => {
            Op::InsertOneTime(decode_one_time(hash, &record)?)
        }
        LoggedOp::TakeOneTime { hash } => Op::TakeOneTime(hash),
        LoggedOp::PublishKeys { keys, now } => Op::PublishKeys(
            keys.into_iter()
                .map(|(kid, jwk, until)| latch_core::store::PublishedKey {
                    kid,
                    jwk,
                    until: Timestamp::from_millis(until),
                })
                .collect(),
            Timestamp::from_millis(now),
        ),
    })
}
