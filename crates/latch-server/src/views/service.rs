//! The JSON shapes of service tokens and signing keys.

use latch_core::service_token::{KeyInfo, KeyState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/service-tokens`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintServiceToken {
    /// The session token the service token is minted from.
    pub token: String,
    /// The one service the token is for; must be among the configured audiences.
    pub audience: String,
}

/// A minted service token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceTokenView {
    /// The EdDSA-signed JWT (`typ: latch-svc+jwt`). Pass it to the service; never log it.
    pub jwt: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// `POST /v1/keys/rotate`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeys {
    /// Sign with the new key at once and withdraw every other key from the JWK Set (for a key
    /// that may have leaked: tokens it signed stop verifying once verifiers refetch). Default
    /// false: the new key is published first and signs after `publish_ahead_s`.
    #[serde(default)]
    pub immediately: bool,
}

/// What a rotation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotationView {
    /// The new (or already pending) key.
    pub kid: String,
    /// When it signs from, RFC 3339 UTC.
    pub signs_from: String,
    /// A rotation was already pending, so nothing changed.
    pub already_pending: bool,
}

/// One of this node's signing keys (never the private half).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The key id (RFC 7638 thumbprint).
    pub kid: String,
    /// `pending`, `signing`, `retiring` or `gone`.
    #[schema(value_type = String)]
    pub state: KeyState,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub signs_from: String,
    /// RFC 3339 UTC, when scheduled.
    pub signs_until: Option<String>,
    /// Until when the public key is published, as of now; RFC 3339 UTC.
    pub published_until: String,
}

impl KeyView {
    /// The view of a key.
    pub fn of(k: &KeyInfo) -> Self {
        Self {
            kid: k.kid.clone(),
            state: k.state,
            created_at: k.created_at.to_rfc3339(),
            signs_from: k.signs_from.to_rfc3339(),
            signs_until: k.signs_until.map(|t| t.to_rfc3339()),
            published_until: k.published_until.to_rfc3339(),
        }
    }
}

/// This node's signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first.
    pub keys: Vec<KeyView>,
}
