//! The JWT side of the comparison: a typical session JWT, signed and verified with the
//! `jsonwebtoken` crate the way its documentation shows (algorithm pinned, `exp`, `iss`, `aud`
//! checked), with HS256, EdDSA and RS256 (2048-bit key).

use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// The claims of a typical session JWT.
#[derive(Debug, Deserialize, Serialize)]
pub struct Claims {
    iss: String,
    sub: String,
    aud: String,
    iat: u64,
    exp: u64,
    sid: String,
    roles: Vec<String>,
    email: String,
}

/// A token and what verifying it needs.
pub struct Jwt {
    /// The algorithm, for labels.
    pub alg: Algorithm,
    /// The compact token.
    pub token: String,
    key: DecodingKey,
    validation: Validation,
}

impl Jwt {
    /// Verifies the token; panics if it does not verify (a broken comparison must not pass).
    pub fn verify(&self) -> Claims {
        match decode::<Claims>(&self.token, &self.key, &self.validation) {
            Ok(d) => d.claims,
            Err(e) => panic!("the reference JWT does not verify: {e}"),
        }
    }
}

/// The lifetime of the reference session JWT, seconds: a typical 15 minutes (the Redis article
/// cites 5 to 30). A revoked or demoted user keeps access this long.
pub const LIFETIME_S: u64 = 900;

fn claims(now: u64) -> Claims {
    Claims {
        iss: "https://auth.example.com".into(),
        sub: "user-1842".into(),
        aud: "app.example.com".into(),
        iat: now,
        exp: now + LIFETIME_S,
        sid: "7f3c2a9e4b1d4e0f8a6b5c4d3e2f1a0b".into(),
        roles: vec!["member".into(), "billing:read".into()],
        email: "ada@example.com".into(),
    }
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&["https://auth.example.com"]);
    v.set_audience(&["app.example.com"]);
    v
}

/// HS256 with a 256-bit random secret.
pub fn hs256(now: u64) -> Jwt {
    let secret: [u8; 32] = latch_core::token::random_bytes().unwrap_or([7; 32]);
    let enc = EncodingKey::from_secret(&secret).unwrap_or_else(|_| unreachable!());
    let token = encode(&Header::new(Algorithm::HS256), &claims(now), &enc)
        .unwrap_or_else(|e| panic!("HS256 signing failed: {e}"));
    Jwt {
        alg: Algorithm::HS256,
        token,
        key: DecodingKey::from_secret(&secret).unwrap_or_else(|_| unreachable!()),
        validation: validation(Algorithm::HS256),
    }
}

/// EdDSA (Ed25519).
pub fn eddsa(now: u64) -> Jwt {
    let seed: [u8; 32] = latch_core::token::random_bytes().unwrap_or([7; 32]);
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed 16-byte prefix, then the seed.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let token = encode(
        &Header::new(Algorithm::EdDSA),
        &claims(now),
        &EncodingKey::from_ed_der(&der),
    )
    .unwrap_or_else(|e| panic!("EdDSA signing failed: {e}"));
    Jwt {
        alg: Algorithm::EdDSA,
        token,
        key: DecodingKey::from_ed_der(&public),
        validation: validation(Algorithm::EdDSA),
    }
}

/// A 2048-bit RSA key made for this benchmark only (it signs nothing else); generating one at
/// run time would dominate a quick run.
/// PKCS#1 DER, as `jsonwebtoken` reads RSA keys without its PEM feature.
const RS256_PRIVATE: &[u8] = include_bytes!("fixtures/bench-rs256-private.der");
const RS256_PUBLIC: &[u8] = include_bytes!("fixtures/bench-rs256-public.der");

/// RS256 (RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key).
pub fn rs256(now: u64) -> Jwt {
    let enc = EncodingKey::from_rsa_der(RS256_PRIVATE);
    let token = encode(&Header::new(Algorithm::RS256), &claims(now), &enc)
        .unwrap_or_else(|e| panic!("RS256 signing failed: {e}"));
    Jwt {
        alg: Algorithm::RS256,
        token,
        key: DecodingKey::from_rsa_der(RS256_PUBLIC),
        validation: validation(Algorithm::RS256),
    }
}
