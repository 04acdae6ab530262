//! Records to and from Redis hash fields.

use latch_core::session::{Device, SessionRecord};
use latch_core::store::{ApiKeyRecord, StoreError};
use latch_core::time::Timestamp;
use latch_core::token::{SessionId, Verifier};
use latch_core::user::{User, UserId, UserStatus};

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("redis {what}"))
}

const U48: u64 = (1 << 48) - 1;

/// A session packed as the scripts read it (see [`crate::scripts`]).
pub(crate) fn encode_session(s: &SessionRecord) -> Vec<u8> {
    let uid = s.user_id.as_str().as_bytes();
    let ua = s.device.user_agent.as_deref().unwrap_or("").as_bytes();
    let ip = s.device.ip.map(|ip| ip.to_string()).unwrap_or_default();
    let mut v = Vec::with_capacity(64 + uid.len() + ua.len() + ip.len());
    v.extend_from_slice(s.verifier.as_bytes());
    for t in [
        s.created_at.as_millis(),
        s.last_seen_at.as_millis(),
        s.idle_timeout_ms,
        s.expires_at.as_millis(),
    ] {
        v.extend_from_slice(&t.min(U48).to_be_bytes()[2..]);
    }
    let flags = u8::from(s.device.user_agent.is_some()) | (u8::from(s.device.ip.is_some()) << 1);
    v.push(flags);
    // User ids are at most 256 bytes, user agents 512, IP addresses 45: the lengths fit.
    v.extend_from_slice(&u16::try_from(uid.len()).unwrap_or(u16::MAX).to_be_bytes());
    v.extend_from_slice(uid);
    v.extend_from_slice(&u16::try_from(ua.len()).unwrap_or(u16::MAX).to_be_bytes());
    v.extend_from_slice(ua);
    v.push(u8::try_from(ip.len()).unwrap_or(u8::MAX));
    v.extend_from_slice(ip.as_bytes());
    v
}

/// Reads a packed session.
pub(crate) fn decode_session(id: SessionId, v: &[u8]) -> Result<SessionRecord, StoreError> {
    let bad = || corrupt("session value");
    let mut r = Reader(v);
    let verifier: [u8; 32] = r.take(32).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
    let mut times = [0u64; 4];
    for t in &mut times {
        let b = r.take(6).ok_or_else(bad)?;
        let mut full = [0u8; 8];
        full[2..].copy_from_slice(b);
        *t = u64::from_be_bytes(full);
    }
    let flags = *r.take(1).ok_or_else(bad)?.first().ok_or_else(bad)?;
    let uid = r.text(2).ok_or_else(bad)?;
    let ua = r.text(2).ok_or_else(bad)?;
    let ip = r.text(1).ok_or_else(bad)?;
    Ok(SessionRecord {
        id,
        user_id: UserId::new(uid).map_err(|_| bad())?,
        verifier: Verifier::from_bytes(verifier),
        created_at: Timestamp::from_millis(times[0]),
        last_seen_at: Timestamp::from_millis(times[1]),
        idle_timeout_ms: times[2],
        expires_at: Timestamp::from_millis(times[3]),
        device: Device {
            user_agent: (flags & 1 != 0).then(|| ua.to_owned()),
            ip: if flags & 2 != 0 {
                Some(ip.parse().map_err(|_| bad())?)
            } else {
                None
            },
        },
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    /// A length-prefixed UTF-8 string with a `width`-byte big-endian length.
    fn text(&mut self, width: usize) -> Option<&'a str> {
        let len = self
            .take(width)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        std::str::from_utf8(self.take(len)?).ok()
    }
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

/// A one-time token from `expires \t purpose \t user id` (the user id last: it may hold tabs).
pub(crate) fn one_time_in(
    hash: [u8; 32],
    v: &str,
) -> Result<latch_core::one_time::OneTimeRecord, StoreError> {
    let mut it = v.splitn(3, '\t');
    let (Some(at), Some(purpose), Some(uid)) = (it.next(), it.next(), it.next()) else {
        return Err(corrupt("one-time token"));
    };
    Ok(latch_core::one_time::OneTimeRecord {
        hash,
        user_id: UserId::new(uid).map_err(|_| corrupt("one-time token user"))?,
        purpose: latch_core::one_time::Purpose::new(purpose)
            .map_err(|_| corrupt("one-time token purpose"))?,
        expires_at: Timestamp::from_millis(at.parse().map_err(|_| corrupt("one-time token"))?),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_damage_is_refused() {
        let id: SessionId = "ab12".repeat(9).parse().unwrap();
        let mut s = SessionRecord {
            id,
            user_id: UserId::new("ü ser").unwrap(),
            verifier: Verifier::from_bytes([3; 32]),
            created_at: Timestamp::from_millis(1_796_324_401_999),
            last_seen_at: Timestamp::from_millis(1_796_324_402_000),
            idle_timeout_ms: 1_800_000,
            expires_at: Timestamp::from_millis(1_796_353_201_999),
            device: Device {
                user_agent: Some(String::new()),
                ip: "2001:db8::1".parse().ok(),
            },
        };
        assert_eq!(decode_session(id, &encode_session(&s)).unwrap(), s);
        s.device = Device::default();
        let v = encode_session(&s);
        assert_eq!(decode_session(id, &v).unwrap(), s);
        assert!(decode_session(id, &v[..v.len() - 1]).is_err());
        assert!(decode_session(id, &[]).is_err());
    }
}
