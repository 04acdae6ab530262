//! One-time tokens: password reset, email verification, magic links. Opaque, 256 random bits,
//! only their SHA-256 stored, bound to a user and a purpose, short-lived, and consumed at most
//! once: the store deletes the record in the same atomic step that reads it, so of two
//! concurrent consumes exactly one wins. Any consume attempt uses the token up, and every
//! refusal (used, expired, wrong purpose, unknown) looks the same to the caller.

use std::fmt;

use crate::time::Timestamp;
use crate::token::{RandomError, random_secret, sha256};
use crate::user::UserId;

/// The fixed prefix of one-time tokens.
pub const ONE_TIME_PREFIX: &str = "latch_o_";
/// The longest purpose name.
pub const MAX_PURPOSE_LEN: usize = 64;

/// What a one-time token is for, e.g. `password_reset`: 1 to 64 characters from
/// `a-z 0-9 _ - . :`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Purpose(String);

/// A purpose name that is empty, too long or has other characters.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("purpose must be 1 to 64 characters from a-z 0-9 _ - . :")]
pub struct InvalidPurpose;

impl Purpose {
    /// Checks a purpose name.
    ///
    /// # Errors
    /// [`InvalidPurpose`].
    pub fn new(s: &str) -> Result<Self, InvalidPurpose> {
        let ok = !s.is_empty()
            && s.len() <= MAX_PURPOSE_LEN
            && s.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'-' | b'.' | b':')
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidPurpose)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A one-time token as stored: the hash, never the token.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct OneTimeRecord {
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// Whose token it is.
    pub user_id: UserId,
    /// What it may be used for.
    pub purpose: Purpose,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// A new one-time token: the text for the user, the record for the store.
pub struct NewOneTime {
    /// The token. Send it to the user (in an email, say); never log it.
    pub token: String,
    /// What the store keeps.
    pub record: OneTimeRecord,
}

impl fmt::Debug for NewOneTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOneTime")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// Makes a token for `user` and `purpose`, valid until `expires_at`.
///
/// # Errors
/// [`RandomError`] if the OS random source fails.
pub fn generate(
    user_id: UserId,
    purpose: Purpose,
    expires_at: Timestamp,
) -> Result<NewOneTime, RandomError> {
    let token = random_secret(ONE_TIME_PREFIX)?;
    Ok(NewOneTime {
        record: OneTimeRecord {
            hash: sha256(token.as_bytes()),
            user_id,
            purpose,
            expires_at,
        },
        token,
    })
}

/// The lookup key of a presented token, if it has the shape of one (no store read otherwise).
pub fn lookup_hash(token: &str) -> Option<[u8; 32]> {
    let body = token.strip_prefix(ONE_TIME_PREFIX)?;
    let well_formed = body.len() == 43
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| sha256(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_tokens() {
        assert!(Purpose::new("password_reset").is_ok());
        assert!(Purpose::new("email:verify.v2").is_ok());
        for bad in ["", "Reset", "a b", &"x".repeat(65)] {
            assert_eq!(Purpose::new(bad), Err(InvalidPurpose));
        }
        let t = generate(
            UserId::new("u").unwrap(),
            Purpose::new("p").unwrap(),
            Timestamp::from_millis(1),
        )
        .unwrap();
        assert_eq!(lookup_hash(&t.token), Some(t.record.hash));
        assert!(lookup_hash("latch_o_short").is_none());
        assert!(lookup_hash(&t.token.replace("latch_o_", "latch_s_")).is_none());
        assert!(!format!("{t:?}").contains(&t.token[8..]));
    }
}
