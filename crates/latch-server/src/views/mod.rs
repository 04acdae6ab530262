//! The JSON shapes of the external contract (DESIGN.md "External contract"): what requests
//! carry and what answers look like. Requests reject unknown fields.

use latch_core::ActiveSession;
use latch_core::session::SessionRecord;
use latch_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Device details given when a session is created.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// The client's `User-Agent` (at most 512 bytes).
    pub user_agent: Option<String>,
    /// The client's IP address (IPv4 or IPv6).
    pub ip: Option<String>,
}

/// `POST /v1/sessions`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// The application's id for the user: 1 to 256 bytes of UTF-8.
    pub user_id: String,
    /// Where the user signs in from, for their device list.
    pub device: Option<DeviceInput>,
    /// Idle timeout in seconds (at least 1; default and cap from the server's policy).
    pub idle_timeout_s: Option<u64>,
    /// Absolute timeout in seconds (at least 1; default and cap from the server's policy).
    pub absolute_timeout_s: Option<u64>,
}

/// A body carrying a session token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// A session token (`latch_s_...`).
    pub token: String,
}

/// `PUT /v1/users/{user_id}`: each field present replaces the old value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// Role names (at most 64, each 1-64 characters from `A-Z a-z 0-9 _ - . : /`).
    pub roles: Option<Vec<String>>,
    /// `active` or `blocked`; blocking revokes every session of the user.
    pub status: Option<Status>,
    /// A JSON object of at most 4096 bytes.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

/// A user's status.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Sessions validate and may be created.
    Active,
    /// Every session revoked; none may be created.
    Blocked,
}

impl From<UserStatus> for Status {
    fn from(s: UserStatus) -> Self {
        match s {
            UserStatus::Active => Self::Active,
            UserStatus::Blocked => Self::Blocked,
        }
    }
}

impl From<Status> for UserStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Active => Self::Active,
            Status::Blocked => Self::Blocked,
        }
    }
}

/// Device details of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// The user agent given at creation.
    pub user_agent: Option<String>,
    /// The IP address given at creation.
    pub ip: Option<String>,
}

/// A session. Never carries a token.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session id: 36 lowercase hex digits.
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The last use the server recorded (refreshed at most once per tenth of the idle window).
    pub last_seen_at: String,
    /// When the session ends if not used again.
    pub idle_expires_at: String,
    /// When the session ends whatever its use.
    pub expires_at: String,
    /// Where it was created from.
    pub device: DeviceView,
}

impl SessionView {
    /// The view of a stored record.
    pub fn of(s: &SessionRecord) -> Self {
        Self::with_last_seen(s, s.last_seen_at)
    }

    /// The view of an active session as just validated.
    pub fn of_active(a: &ActiveSession) -> Self {
        Self::with_last_seen(a.record(), a.last_seen_at())
    }

    fn with_last_seen(s: &SessionRecord, last_seen: latch_core::time::Timestamp) -> Self {
        Self {
            id: s.id.to_string(),
            user_id: s.user_id.as_str().to_owned(),
            created_at: s.created_at.to_rfc3339(),
            last_seen_at: last_seen.to_rfc3339(),
            idle_expires_at: s.idle_expires_after(last_seen).to_rfc3339(),
            expires_at: s.expires_at.to_rfc3339(),
            device: DeviceView {
                user_agent: s.device.user_agent.clone(),
                ip: s.device.ip.map(|ip| ip.to_string()),
            },
        }
    }
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The user id.
    pub id: String,
    /// Role names.
    pub roles: Vec<String>,
    /// `active` or `blocked`.
    pub status: Status,
    /// The application's attributes.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
}

impl UserView {
    /// The view of a user.
    pub fn of(u: &User) -> Self {
        Self {
            id: u.id.as_str().to_owned(),
            roles: u.roles.clone(),
            status: u.status.into(),
            attributes: u.attributes.clone(),
        }
    }
}

/// A new token and its session.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedView {
    /// The session token: give it to the client (in a `__Host-` cookie, say), never log it.
    pub token: String,
    /// The session.
    pub session: SessionView,
}

/// The answer of `POST /v1/sessions/validate`: `{"active": false}` and nothing else when the
/// token gives no access.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationView {
    /// Whether the token gives access.
    pub active: bool,
    /// The session, when active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionView>,
    /// The user's current state, when active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
}

/// A user's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Live sessions, oldest first.
    pub sessions: Vec<SessionView>,
}

/// How many sessions were revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// The count.
    pub revoked: usize,
}

/// The `except` query parameter of `DELETE /v1/users/{user_id}/sessions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExceptQuery {
    /// A session id to keep.
    pub except: Option<String>,
}

/// `POST /v1/api-keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A label, 1 to 64 characters (who uses the key).
    pub name: String,
}

/// A stored API key, without the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Id to revoke it by.
    pub id: String,
    /// Label.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl ApiKeyView {
    /// The view of a stored key.
    pub fn of(k: &latch_core::store::ApiKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            created_at: k.created_at.to_rfc3339(),
        }
    }
}

/// A new key: the only time the key text is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiKeyView {
    /// Id to revoke it by.
    pub id: String,
    /// Label.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The key. Store it now: it cannot be shown again.
    pub key: String,
}

impl NewApiKeyView {
    /// The view of a key just created.
    pub fn of(new: latch_core::api_key::NewApiKey) -> Self {
        let ApiKeyView {
            id,
            name,
            created_at,
        } = ApiKeyView::of(&new.record);
        Self {
            id,
            name,
            created_at,
            key: new.key.0,
        }
    }
}

/// The stored keys and how many come from configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Keys created through the API or the CLI.
    pub api_keys: Vec<ApiKeyView>,
    /// Keys from `LATCH_API_KEYS` or the config file (not listed).
    pub configured: usize,
}

/// `POST /v1/one-time-tokens`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOneTime {
    /// The user the token is for.
    pub user_id: String,
    /// What it may be used for: 1 to 64 characters from `a-z 0-9 _ - . :`.
    pub purpose: String,
    /// Lifetime in seconds (default 600, capped by the server's maximum).
    pub ttl_s: Option<u64>,
}

/// A new one-time token.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneTimeView {
    /// The token (`latch_o_...`): send it to the user; it is not stored.
    pub token: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// `POST /v1/one-time-tokens/consume`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumeOneTime {
    /// The token.
    pub token: String,
    /// The purpose it must have been issued for.
    pub purpose: String,
}

/// What a consumed one-time token was for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsumedView {
    /// Whose token it was.
    pub user_id: String,
    /// Its purpose.
    pub purpose: String,
}

mod answer;
mod service;
pub use answer::ValidationAnswer;
pub use service::*;
