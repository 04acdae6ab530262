//! The token format: header, claims, and how Latch writes them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};

use crate::Rejected;

/// The only algorithm: Ed25519.
pub const ALG: &str = "EdDSA";
/// The explicit type of a Latch service token (RFC 8725 §3.11), so no other JWT passes for one.
pub const TYP: &str = "latch-svc+jwt";
/// The longest a service token may live, `exp - iat`, in seconds.
pub const MAX_LIFETIME_S: u64 = 300;

/// The JOSE header: exactly these three members. Anything else (`jwk`, `jku`, `x5u`, `x5c`,
/// `crit`, `b64`, `enc`, `zip`, a duplicate member) makes it unacceptable.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    pub(crate) alg: String,
    pub(crate) typ: String,
    pub(crate) kid: String,
}

impl Header {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Rejected> {
        let h: Self = serde_json::from_slice(bytes)
            .map_err(|_| Rejected::Header("not exactly {alg, typ, kid}"))?;
        if h.alg != ALG {
            return Err(Rejected::Header("alg is not EdDSA"));
        }
        if h.typ != TYP {
            return Err(Rejected::Header("typ is not latch-svc+jwt"));
        }
        if !crate::keys::valid_kid(&h.kid) {
            return Err(Rejected::Header("kid is not a key thumbprint"));
        }
        Ok(h)
    }
}

/// What a service token says. Every member is required and strictly typed: times are
/// integers (a string or a fraction is refused), `aud` is one string (not an array). A
/// duplicated member is refused; a member this version does not know is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the Latch deployment (`service_tokens.issuer`).
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience: the one service the token is for.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Unique id of this token (128 random bits, base64url).
    pub jti: String,
    /// The Latch session it was minted from (its id, never its token).
    pub sid: String,
    /// The user's roles when it was minted.
    pub roles: Vec<String>,
}

impl Claims {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Rejected> {
        serde_json::from_slice(bytes)
            .map_err(|_| Rejected::Claims("missing, mistyped or duplicated claim"))
    }

    /// Writes and signs a token: what Latch does when it mints one. `kid` must be the key's
    /// thumbprint ([`crate::keys::thumbprint`]).
    pub fn sign(&self, key: &SigningKey, kid: &str) -> String {
        let header = Header {
            alg: ALG.to_owned(),
            typ: TYP.to_owned(),
            kid: kid.to_owned(),
        };
        // Serializing these plain structs cannot fail.
        let h = serde_json::to_vec(&header).unwrap_or_default();
        let p = serde_json::to_vec(self).unwrap_or_default();
        let mut out = String::with_capacity(64 + (h.len() + p.len()) * 4 / 3 + 88);
        URL_SAFE_NO_PAD.encode_string(&h, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&p, &mut out);
        let sig = key.sign(out.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.to_bytes(), &mut out);
        out
    }
}
