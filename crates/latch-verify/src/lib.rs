//! Verifies the service JWTs that Latch mints, for services that receive them.
//!
//! A Latch service token is a compact JWS signed with Ed25519 (`alg: EdDSA`), typed
//! `typ: latch-svc+jwt`, that names one audience and lives at most five minutes. This crate
//! accepts exactly that and nothing else:
//!
//! - the algorithm is pinned: the header's `alg` must be `EdDSA`, byte for byte; there is no
//!   HMAC code path at all, so no key can be confused for an HMAC secret;
//! - keys come only from the key set you give it (or the JWKS URL you configure with
//!   [`remote::RemoteVerifier`]), never from a token's header: the header may hold `alg`, `typ`
//!   and `kid` and nothing else (no `jwk`, `jku`, `x5u`, `x5c`, `crit`, ...);
//! - input is compact serialization only: three non-empty base64url segments, no padding, no
//!   whitespace, at most [`MAX_TOKEN_LEN`] bytes;
//! - the signature is checked with `verify_strict` (no small-order keys, canonical `S`) before
//!   the payload is even parsed;
//! - `iss`, `sub`, `aud` (one string), `exp`, `iat`, `nbf` (integers), `jti`, `sid` and `roles`
//!   are all required; `iss` and `aud` must be yours; times are checked with a small leeway.
//!
//! ```
//! use latch_verify::{KeySet, Verifier};
//! let jwks = r#"{"keys":[]}"#; // fetched from https://latch.example/.well-known/jwks.json
//! let v = Verifier::new(KeySet::from_jwks_json(jwks.as_bytes()).unwrap(), "latch", "billing");
//! assert!(v.verify("not.a.jwt", 1_700_000_000).is_err());
//! ```

pub mod format;
pub mod keys;
#[cfg(feature = "fetch")]
pub mod remote;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signature;

pub use crate::format::{ALG, Claims, MAX_LIFETIME_S, TYP};
pub use crate::keys::{KeySet, KeySetError};

/// The longest token looked at; anything longer is refused unread.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The default clock leeway, in seconds, for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY_S: u64 = 30;

/// Why a token was refused. The variants are for logs and metrics; tell the caller only "401".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// Not a compact JWS: wrong length, characters, segment count or encoding.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header is not exactly `{alg: EdDSA, typ: latch-svc+jwt, kid}`.
    #[error("unacceptable header: {0}")]
    Header(&'static str),
    /// No key in the key set has this `kid`.
    #[error("unknown key id")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// A claim is missing, mistyped or not ours.
    #[error("unacceptable claims: {0}")]
    Claims(&'static str),
    /// `exp` has passed (beyond the leeway).
    #[error("expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("not yet valid")]
    NotYetValid,
}

/// Verifies Latch service tokens for one audience against a fixed key set.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: KeySet,
    issuer: String,
    audience: String,
    leeway_s: u64,
}

impl Verifier {
    /// Accepts tokens from `issuer` (Latch's `service_tokens.issuer`) for `audience` (this
    /// service's name), signed by a key in `keys`.
    pub fn new(keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_s: DEFAULT_LEEWAY_S,
        }
    }

    /// Sets the clock leeway (default [`DEFAULT_LEEWAY_S`]); capped at 300 seconds.
    #[must_use]
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway_s = seconds.min(300);
        self
    }

    /// Replaces the key set (after a JWKS refresh).
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
    }

    /// The key set in use.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch) and returns its claims.
    ///
    /// # Errors
    /// [`Rejected`] saying why; [`Rejected::UnknownKey`] means "refresh the key set and retry
    /// once" (which [`remote::RemoteVerifier`] does).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, Rejected> {
        let parts = split(token)?;
        let header = format::Header::parse(&decode(parts.header)?)?;
        let key = self.keys.get(&header.kid).ok_or(Rejected::UnknownKey)?;
        let sig = decode(parts.signature)?;
        let sig = <[u8; 64]>::try_from(sig.as_slice())
            .map_err(|_| Rejected::Malformed("the signature is not 64 bytes"))?;
        key.verify_strict(parts.signed.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| Rejected::Signature)?;
        let claims = Claims::parse(&decode(parts.payload)?)?;
        self.check(&claims, now)?;
        Ok(claims)
    }

    fn check(&self, c: &Claims, now: u64) -> Result<(), Rejected> {
        if c.iss != self.issuer {
            return Err(Rejected::Claims("wrong issuer"));
        }
        if c.aud != self.audience {
            return Err(Rejected::Claims("wrong audience"));
        }
        if c.exp <= c.iat || c.exp - c.iat > MAX_LIFETIME_S || c.nbf > c.exp {
            return Err(Rejected::Claims("impossible lifetime"));
        }
        if now >= c.exp.saturating_add(self.leeway_s) {
            return Err(Rejected::Expired);
        }
        if c.nbf > now.saturating_add(self.leeway_s) || c.iat > now.saturating_add(self.leeway_s) {
            return Err(Rejected::NotYetValid);
        }
        Ok(())
    }
}

struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, the signing input.
    signed: &'a str,
}

/// Splits a compact JWS, refusing anything else before decoding a byte.
fn split(token: &str) -> Result<Parts<'_>, Rejected> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejected::Malformed("too long"));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(Rejected::Malformed("characters outside base64url and '.'"));
    }
    let mut it = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(Rejected::Malformed("not three segments"));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(Rejected::Malformed("empty segment"));
    }
    Ok(Parts {
        header,
        payload,
        signature,
        signed: &token[..header.len() + 1 + payload.len()],
    })
}

fn decode(segment: &str) -> Result<Vec<u8>, Rejected> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Rejected::Malformed("bad base64url"))
}
