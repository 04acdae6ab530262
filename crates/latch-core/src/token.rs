//! Session tokens: how they are made, parsed and checked.
//!
//! A token is `latch_s_` followed by 88 base64url characters (no padding) that encode 66 bytes:
//!
//! | bytes  | what                                                                  |
//! |--------|-----------------------------------------------------------------------|
//! | 0..18  | the session id (public: it names the session in lists, logs, URLs):   |
//! |        | the user's 2-byte shard tag, then 128 bits from the OS CSPRNG         |
//! | 18..50 | the secret, 256 bits from the OS CSPRNG; only its SHA-256 is stored   |
//! | 50..66 | the tag: HMAC-SHA-256 over id and secret under the node-shared key,   |
//! |        | truncated to 128 bits                                                 |
//!
//! The shard tag ([`Shard`]) puts a session next to its user in a sharded store (the same Redis
//! Cluster hash slot), so every change that spans a user and their sessions is one atomic step,
//! and a session can still be found from the token alone.
//!
//! 96 ASCII characters in all, safe in cookies, headers and URLs, and matchable by secret
//! scanners through the fixed prefix. The tag lets a node reject a token it never issued (a
//! typo, a forgery, a scan) without reading the store. Parsing is total: any input gives either a
//! [`ParsedToken`] or [`Malformed`], never a panic.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The fixed prefix of every session token.
pub const SESSION_TOKEN_PREFIX: &str = "latch_s_";
/// The length of a session token in bytes.
pub const SESSION_TOKEN_LEN: usize = SESSION_TOKEN_PREFIX.len() + ENCODED_LEN;
// DESIGN.md: tokens stay well under 100 bytes.
const _: () = assert!(SESSION_TOKEN_LEN < 100);

const SHARD_LEN: usize = 2;
const ID_LEN: usize = SHARD_LEN + 16;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
const RAW_LEN: usize = ID_LEN + SECRET_LEN + TAG_LEN;
const ENCODED_LEN: usize = 88;
/// Domain separation for the tag MAC, so the key could never produce a tag valid elsewhere.
const TAG_DOMAIN: &[u8] = b"latch/session-token/v1\0";

/// Which shard of a sharded store a user's data lives in: the first two bytes of SHA-256 of
/// the user id. Every session of the user carries it at the start of its id.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct Shard([u8; SHARD_LEN]);

impl Shard {
    /// The shard of `user`.
    pub fn of(user: &crate::user::UserId) -> Self {
        let h = sha256(user.as_str().as_bytes());
        Self([h[0], h[1]])
    }

    /// Four lowercase hex digits, for key names (the Redis Cluster hash tag).
    pub fn hex(&self) -> String {
        format!("{:02x}{:02x}", self.0[0], self.0[1])
    }
}

/// A session's public identifier: the user's [`Shard`] and 128 random bits, shown as 36
/// lowercase hex digits.
#[derive(Clone, Copy, Eq, Ord, PartialEq, PartialOrd)]
pub struct SessionId([u8; ID_LEN]);

impl SessionId {
    /// A fresh id for a session of a user in `shard`.
    ///
    /// # Errors
    /// [`RandomError`] if the OS random source fails.
    pub fn generate(shard: Shard) -> Result<Self, RandomError> {
        let random: [u8; ID_LEN - SHARD_LEN] = random_bytes()?;
        let mut id = [0u8; ID_LEN];
        id[..SHARD_LEN].copy_from_slice(&shard.0);
        id[SHARD_LEN..].copy_from_slice(&random);
        Ok(Self(id))
    }

    /// The shard this session (and its user) lives in.
    pub fn shard(&self) -> Shard {
        Shard([self.0[0], self.0[1]])
    }

    /// The id from its 18 raw bytes.
    pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The 18 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// A cheap, well-mixed 64-bit hash of the id: 64 of its random bits.
    pub fn hash64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[SHARD_LEN..SHARD_LEN + 8]);
        u64::from_le_bytes(b)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of a stack buffer: ids are formatted on every answer that names a session.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; ID_LEN * 2];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The error for a session id that is not 36 lowercase hex digits.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("a session id is 36 lowercase hexadecimal digits")]
pub struct InvalidSessionId;

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.as_bytes();
        if s.len() != ID_LEN * 2 {
            return Err(InvalidSessionId);
        }
        let mut out = [0u8; ID_LEN];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            *o = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Ok(Self(out))
    }
}

fn hex_digit(c: u8) -> Result<u8, InvalidSessionId> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(InvalidSessionId),
    }
}

/// What the store keeps instead of the secret: SHA-256 of it.
#[derive(Clone, Copy, Eq, PartialEq)]
pub struct Verifier([u8; 32]);

impl Verifier {
    /// The verifier from its raw bytes (as read back from a store).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for storing.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(..)")
    }
}

/// The 128-bit integrity tag a token carries.
#[derive(Clone, Copy)]
pub struct Tag([u8; TAG_LEN]);

impl Tag {
    /// Compares in constant time.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tag(..)")
    }
}

/// The key behind token tags. Every node sharing a store must hold the same key.
///
/// Holds the HMAC state already keyed and fed the domain label, so tagging a token costs two
/// SHA-256 compressions.
#[derive(Clone)]
pub struct TokenKey {
    mac: Hmac<Sha256>,
}

impl TokenKey {
    /// The length of a token key in bytes.
    pub const LEN: usize = 32;

    /// A key from 32 bytes (as kept in the data dir or the shared store).
    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail; a 32-byte key is not hashed.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(TAG_DOMAIN);
        Self { mac }
    }

    /// 32 fresh random bytes for a new key.
    ///
    /// # Errors
    /// [`RandomError`] if the OS random source fails.
    pub fn generate_bytes() -> Result<[u8; Self::LEN], RandomError> {
        random_bytes()
    }

    fn tag(&self, id: &SessionId, secret: &[u8; SECRET_LEN]) -> Tag {
        let mut mac = self.mac.clone();
        mac.update(&id.0);
        mac.update(secret);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        Tag(tag)
    }

    /// Makes a new token for session `id`: a fresh secret, its verifier and the tag.
    ///
    /// # Errors
    /// [`RandomError`] if the OS random source fails.
    pub fn issue(&self, id: SessionId) -> Result<IssuedToken, RandomError> {
        let secret: [u8; SECRET_LEN] = random_bytes()?;
        let tag = self.tag(&id, &secret);
        let mut raw = [0u8; RAW_LEN];
        raw[..ID_LEN].copy_from_slice(&id.0);
        raw[ID_LEN..ID_LEN + SECRET_LEN].copy_from_slice(&secret);
        raw[ID_LEN + SECRET_LEN..].copy_from_slice(&tag.0);
        let mut token = String::with_capacity(SESSION_TOKEN_LEN);
        token.push_str(SESSION_TOKEN_PREFIX);
        URL_SAFE_NO_PAD.encode_string(raw, &mut token);
        Ok(IssuedToken {
            token: SessionToken(token),
            id,
            verifier: verifier_of(&secret),
            tag,
        })
    }

    /// Whether `token`'s tag is the one this key gives its id and secret (constant time).
    pub fn check_tag(&self, token: &ParsedToken) -> bool {
        self.tag(&token.id, &token.secret).ct_eq(&token.tag)
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

fn verifier_of(secret: &[u8; SECRET_LEN]) -> Verifier {
    Verifier(Sha256::digest(secret).into())
}

/// A token as handed to a client. `Debug` does not show it.
#[derive(Clone, Eq, PartialEq)]
pub struct SessionToken(String);

impl SessionToken {
    /// The token text, to send to the client. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// A newly made token and what the store needs to know about it.
#[derive(Debug)]
pub struct IssuedToken {
    /// The token for the client.
    pub token: SessionToken,
    /// The session it belongs to.
    pub id: SessionId,
    /// SHA-256 of the secret, for the store.
    pub verifier: Verifier,
    /// The tag, for the near-cache.
    pub tag: Tag,
}

/// A token split into its parts. Nothing is known about it yet beyond its shape.
pub struct ParsedToken {
    id: SessionId,
    secret: [u8; SECRET_LEN],
    tag: Tag,
}

/// The error for a string that is not shaped like a session token.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("not a session token")]
pub struct Malformed;

impl ParsedToken {
    /// Splits a token into id, secret and tag. Total: any string gives `Ok` or `Err(Malformed)`.
    ///
    /// # Errors
    /// [`Malformed`] for a wrong prefix, length or encoding.
    pub fn parse(s: &str) -> Result<Self, Malformed> {
        let body = s.strip_prefix(SESSION_TOKEN_PREFIX).ok_or(Malformed)?;
        if body.len() != ENCODED_LEN {
            return Err(Malformed);
        }
        // Room beyond the exact size for the decoder's conservative estimate.
        let mut raw = [0u8; RAW_LEN + 3];
        // The engine rejects non-canonical trailing bits, so each token has one spelling.
        match URL_SAFE_NO_PAD.decode_slice(body, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return Err(Malformed),
        }
        let mut id = [0u8; ID_LEN];
        let mut secret = [0u8; SECRET_LEN];
        let mut tag = [0u8; TAG_LEN];
        id.copy_from_slice(&raw[..ID_LEN]);
        secret.copy_from_slice(&raw[ID_LEN..ID_LEN + SECRET_LEN]);
        tag.copy_from_slice(&raw[ID_LEN + SECRET_LEN..RAW_LEN]);
        Ok(Self {
            id: SessionId(id),
            secret,
            tag: Tag(tag),
        })
    }

    /// The session id the token names.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The tag the token carries.
    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// SHA-256 of the token's secret, to compare with the stored verifier.
    pub fn verifier(&self) -> Verifier {
        verifier_of(&self.secret)
    }
}

impl fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The OS random source failed; no secret could be made.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomError;

/// `N` bytes from the OS CSPRNG.
///
/// # Errors
/// [`RandomError`] if the OS random source fails.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| RandomError)?;
    Ok(b)
}

/// A random opaque secret: `prefix` followed by 43 base64url characters (256 bits).
///
/// # Errors
/// [`RandomError`] if the OS random source fails.
pub fn random_secret(prefix: &str) -> Result<String, RandomError> {
    let bytes: [u8; 32] = random_bytes()?;
    let mut s = String::with_capacity(prefix.len() + 43);
    s.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut s);
    Ok(s)
}

/// SHA-256 of a string, for secrets kept only as a hash (API keys, one-time tokens).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key() -> TokenKey {
        TokenKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn issued_token_round_trips_and_is_short() {
        let k = key();
        let id = SessionId::generate(Shard([1, 2])).unwrap();
        let t = k.issue(id).unwrap();
        assert_eq!(t.token.expose().len(), SESSION_TOKEN_LEN);
        assert!(t.token.expose().starts_with(SESSION_TOKEN_PREFIX));
        let p = ParsedToken::parse(t.token.expose()).unwrap();
        assert_eq!(p.id(), &id);
        assert!(k.check_tag(&p));
        assert!(p.verifier().ct_eq(&t.verifier));
        assert!(!format!("{t:?}").contains(&t.token.expose()[8..]));
    }

    #[test]
    fn a_token_under_another_key_fails_the_tag() {
        let t = key()
            .issue(SessionId::generate(Shard([1, 2])).unwrap())
            .unwrap();
        let other = TokenKey::from_bytes(&[8u8; 32]);
        assert!(!other.check_tag(&ParsedToken::parse(t.token.expose()).unwrap()));
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let k = key();
        let t = k
            .issue(SessionId::generate(Shard([1, 2])).unwrap())
            .unwrap();
        let s = t.token.expose();
        for i in SESSION_TOKEN_PREFIX.len()..s.len() {
            let mut b = s.as_bytes().to_vec();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(b).unwrap();
            let ok = ParsedToken::parse(&changed)
                .map(|p| k.check_tag(&p) && p.verifier().ct_eq(&t.verifier))
                .unwrap_or(false);
            assert!(!ok, "changing character {i} went unnoticed");
        }
    }

    #[test]
    fn session_ids_parse_strictly() {
        let id = SessionId::generate(Shard([1, 2])).unwrap();
        assert_eq!(id.to_string().parse::<SessionId>().unwrap(), id);
        assert!("".parse::<SessionId>().is_err());
        assert!(
            "ABCDEF0123456789ABCDEF0123456789"
                .parse::<SessionId>()
                .is_err()
        );
        assert!("zz".repeat(18).parse::<SessionId>().is_err());
        assert!("é".repeat(18).parse::<SessionId>().is_err());
        let u = crate::user::UserId::new("ada").unwrap();
        assert_eq!(
            SessionId::generate(Shard::of(&u)).unwrap().shard(),
            Shard::of(&u)
        );
    }

    proptest! {
        #[test]
        fn parsing_any_string_never_panics(s in ".*") {
            let _ = ParsedToken::parse(&s);
            let _ = s.parse::<SessionId>();
        }

        #[test]
        fn parsing_prefixed_noise_never_panics(s in "latch_s_[A-Za-z0-9_=+/-]{0,120}") {
            if let Ok(p) = ParsedToken::parse(&s) {
                prop_assert!(!key().check_tag(&p));
            }
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let s = String::from_utf8_lossy(&b);
            let _ = ParsedToken::parse(&s);
        }

        #[test]
        fn right_length_random_bodies_fail_the_tag(raw in proptest::collection::vec(any::<u8>(), 66)) {
            let s = format!("{SESSION_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&raw));
            let p = ParsedToken::parse(&s).unwrap();
            prop_assert!(!key().check_tag(&p));
        }
    }
}
