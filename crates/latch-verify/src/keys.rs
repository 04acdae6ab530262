//! Public keys: JWK Sets as Latch publishes them at `/.well-known/jwks.json`.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::ALG;

/// Keys in one set, at most; a larger document is refused.
pub const MAX_KEYS: usize = 64;

/// One public key as a JWK (RFC 8037: `kty: OKP`, `crv: Ed25519`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519` (other curves and key types are skipped when read).
    #[serde(default)]
    pub crv: String,
    /// The public key, base64url.
    #[serde(default)]
    pub x: String,
    /// The RFC 7638 thumbprint of the key.
    #[serde(default)]
    pub kid: String,
    /// `sig`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "use")]
    pub use_: Option<String>,
    /// `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// A private key must never be published: a JWK with `d` is refused.
    #[serde(default, skip_serializing)]
    pub d: Option<serde::de::IgnoredAny>,
}

impl Jwk {
    /// The JWK for an Ed25519 public key, with its thumbprint as `kid`.
    pub fn ed25519(key: &VerifyingKey) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
            kid: thumbprint(key),
            use_: Some("sig".into()),
            alg: Some(ALG.into()),
            d: None,
        }
    }
}

/// A JWK Set document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// Why a key set was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    /// Not a JWK Set document.
    #[error("not a JWK Set: {0}")]
    Json(#[from] serde_json::Error),
    /// More than [`MAX_KEYS`] keys.
    #[error("more than {MAX_KEYS} keys")]
    TooMany,
    /// A key that claims to be an Ed25519 signing key but is not a valid one.
    #[error("key {kid:?}: {why}")]
    BadKey {
        /// The key's `kid`.
        kid: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Ed25519 public keys by `kid`. Keys of other types in a JWKS are skipped, not trusted.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// Reads a JWK Set. Only `OKP`/`Ed25519` keys for signing are kept; each must have a valid
    /// 32-byte `x`, no private part, and its own thumbprint as `kid` (so a `kid` can never
    /// point at anything but that exact key).
    ///
    /// # Errors
    /// [`KeySetError`] for a document that is not a JWK Set, or an Ed25519 key that is broken.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<Self, KeySetError> {
        let doc: Jwks = serde_json::from_slice(bytes)?;
        if doc.keys.len() > MAX_KEYS {
            return Err(KeySetError::TooMany);
        }
        let mut keys = HashMap::new();
        for jwk in doc.keys {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                continue;
            }
            if jwk.use_.as_deref().is_some_and(|u| u != "sig")
                || jwk.alg.as_deref().is_some_and(|a| a != ALG)
            {
                continue;
            }
            let bad = |why| KeySetError::BadKey {
                kid: jwk.kid.clone(),
                why,
            };
            if jwk.d.is_some() {
                return Err(bad("a private key was published"));
            }
            let x = URL_SAFE_NO_PAD
                .decode(&jwk.x)
                .map_err(|_| bad("x is not base64url"))?;
            let x = <[u8; 32]>::try_from(x.as_slice()).map_err(|_| bad("x is not 32 bytes"))?;
            let key = VerifyingKey::from_bytes(&x).map_err(|_| bad("x is not a curve point"))?;
            if key.is_weak() {
                return Err(bad("x is a small-order point"));
            }
            if thumbprint(&key) != jwk.kid {
                return Err(bad("kid is not the key's thumbprint"));
            }
            keys.insert(jwk.kid, key);
        }
        Ok(Self { keys })
    }

    /// A set of the given keys.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (thumbprint(&k), k)).collect(),
        }
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No keys at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The RFC 7638 JWK thumbprint of an Ed25519 key (SHA-256, base64url: 43 characters).
pub fn thumbprint(key: &VerifyingKey) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.as_bytes())
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A `kid` as Latch writes them: 43 base64url characters. Anything else (paths, quotes,
/// SQL, very long strings) is refused before any lookup.
pub(crate) fn valid_kid(kid: &str) -> bool {
    kid.len() == 43
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
