//! Records to and from Redis hash fields.

use latch_core::session::{Device, SessionRecord};
use latch_core::store::{ApiKeyRecord, StoreError};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserStatus};

/// HMGET of the session fields, in script order.
pub(crate) type Fields = Vec<Option<Vec<u8>>>;

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("redis {what}"))
}

fn num(v: &Option<Vec<u8>>) -> Result<u64, StoreError> {
    v.as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| corrupt("session: a number field is missing or malformed"))
}

/// An optional text field: empty means absent, `=` then the value means present.
pub(crate) fn opt_out(v: Option<&str>) -> String {
    v.map_or_else(String::new, |s| format!("={s}"))
}

fn opt_in(v: &Option<Vec<u8>>) -> Option<String> {
    let b = v.as_deref()?;
    let s = std::str::from_utf8(b.strip_prefix(b"=")?).ok()?;
    Some(s.to_owned())
}

/// A session from its fields; `None` if the session does not exist.
pub(crate) fn session(id: SessionId, f: &Fields) -> Result<Option<SessionRecord>, StoreError> {
    let Some(Some(uid)) = f.first() else {
        return Ok(None);
    };
    if f.len() != 8 {
        return Err(corrupt("session: wrong field count"));
    }
    let uid = std::str::from_utf8(uid).map_err(|_| corrupt("session: user id"))?;
    let v: [u8; 32] = f[1]
        .as_deref()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("session: verifier"))?;
    Ok(Some(SessionRecord {
        id,
        user_id: UserId::new(uid).map_err(|_| corrupt("session: user id"))?,
        verifier: Verifier::from_bytes(v),
        created_at: Timestamp::from_millis(num(&f[2])?),
        last_seen_at: Timestamp::from_millis(num(&f[3])?),
        idle_timeout_ms: num(&f[4])?,
        expires_at: Timestamp::from_millis(num(&f[5])?),
        device: Device {
            user_agent: opt_in(&f[6]),
            ip: opt_in(&f[7]).and_then(|s| s.parse().ok()),
        },
    }))
}

/// A user from `HMGET r b a`; `None` if the user does not exist.
pub(crate) fn user(id: &UserId, f: &[Option<String>]) -> Result<Option<User>, StoreError> {
    let [Some(r), Some(b), Some(a)] = f else {
        return Ok(None);
    };
    let roles: Vec<String> = serde_json::from_str(r).map_err(|_| corrupt("user: roles"))?;
    let Ok(serde_json::Value::Object(attributes)) = serde_json::from_str(a) else {
        return Err(corrupt("user: attributes"));
    };
    Ok(Some(User {
        id: id.clone(),
        roles,
        status: if b == "1" {
            UserStatus::Blocked
        } else {
            UserStatus::Active
        },
        attributes,
    }))
}

/// An API key as one hash field value: name, hex hash and creation time, tab-separated.
pub(crate) fn api_key_out(k: &ApiKeyRecord) -> String {
    let hash: String = k.hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}\t{hash}\t{}", k.name, k.created_at.as_millis())
}

pub(crate) fn api_key_in(id: &str, v: &str) -> Result<ApiKeyRecord, StoreError> {
    let mut it = v.split('\t');
    let (Some(name), Some(hex), Some(at), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(corrupt("api key"));
    };
    let mut hash = [0u8; 32];
    if hex.len() != 64 {
        return Err(corrupt("api key hash"));
    }
    for (i, h) in hash.iter_mut().enumerate() {
        *h = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| corrupt("api key hash"))?;
    }
    Ok(ApiKeyRecord {
        id: id.to_owned(),
        name: name.to_owned(),
        hash,
        created_at: Timestamp::from_millis(at.parse().map_err(|_| corrupt("api key time"))?),
    })
}
