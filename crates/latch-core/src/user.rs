//! Users: the state sessions point at. Roles, attributes and status live here, not in sessions,
//! so a role change or a block shows on the very next validation.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 256;
/// The most roles a user may have.
pub const MAX_ROLES: usize = 64;
/// The longest role name, in bytes.
pub const MAX_ROLE_LEN: usize = 64;
/// The largest attributes object, in bytes of compact JSON.
pub const MAX_ATTRIBUTES_LEN: usize = 4096;

/// A user id: 1 to 256 bytes of UTF-8, chosen by the application.
#[derive(Clone, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct UserId(Arc<str>);

impl Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl UserId {
    /// Checks and wraps a user id.
    ///
    /// # Errors
    /// [`InvalidUser::UserId`] if `s` is empty or longer than 256 bytes.
    pub fn new(s: &str) -> Result<Self, InvalidUser> {
        if s.is_empty() || s.len() > MAX_USER_ID_LEN {
            return Err(InvalidUser::UserId);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    // Debug-quoted so that control characters in an application's ids cannot forge log lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether a user may hold sessions.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// The user may sign in and their sessions validate.
    #[default]
    Active,
    /// Every session is revoked and no new one may be created.
    Blocked,
}

/// A user's state as the store keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Role names, in the order the application gave them, without duplicates.
    pub roles: Vec<String>,
    /// Active or blocked.
    pub status: UserStatus,
    /// A small JSON object the application keeps with the user.
    pub attributes: Map<String, Value>,
}

impl User {
    /// A user with no roles, no attributes, active: what a session's user is until the
    /// application says more.
    pub fn new(id: UserId) -> Self {
        Self {
            id,
            roles: Vec::new(),
            status: UserStatus::Active,
            attributes: Map::new(),
        }
    }

    /// Whether the user holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Applies a checked change.
    pub fn apply(&mut self, patch: &UserPatch) {
        if let Some(roles) = &patch.roles {
            self.roles.clone_from(roles);
        }
        if let Some(status) = patch.status {
            self.status = status;
        }
        if let Some(attributes) = &patch.attributes {
            self.attributes.clone_from(attributes);
        }
    }
}

/// A change to a user: each field present replaces the old value. Built only through
/// [`UserPatch::new`], so a patch in hand is always within limits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserPatch {
    roles: Option<Vec<String>>,
    status: Option<UserStatus>,
    attributes: Option<Map<String, Value>>,
}

impl UserPatch {
    /// Checks a change.
    ///
    /// # Errors
    /// [`InvalidUser`] naming the first field out of bounds.
    pub fn new(
        roles: Option<Vec<String>>,
        status: Option<UserStatus>,
        attributes: Option<Map<String, Value>>,
    ) -> Result<Self, InvalidUser> {
        let roles = roles.map(check_roles).transpose()?;
        if let Some(a) = &attributes {
            let len = serde_json::to_vec(a).map_or(usize::MAX, |v| v.len());
            if len > MAX_ATTRIBUTES_LEN {
                return Err(InvalidUser::AttributesTooLarge);
            }
        }
        Ok(Self {
            roles,
            status,
            attributes,
        })
    }

    /// The new roles, if they change.
    pub fn roles(&self) -> Option<&[String]> {
        self.roles.as_deref()
    }

    /// The new status, if it changes.
    pub fn status(&self) -> Option<UserStatus> {
        self.status
    }

    /// The new attributes, if they change.
    pub fn attributes(&self) -> Option<&Map<String, Value>> {
        self.attributes.as_ref()
    }
}

fn check_roles(roles: Vec<String>) -> Result<Vec<String>, InvalidUser> {
    if roles.len() > MAX_ROLES {
        return Err(InvalidUser::TooManyRoles);
    }
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for r in roles {
        if !valid_role(&r) {
            return Err(InvalidUser::Role);
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Role names travel in headers (`X-Latch-Roles`, comma-separated), so they are restricted to
/// characters that need no quoting there.
fn valid_role(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= MAX_ROLE_LEN
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

/// Why a user id or change was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidUser {
    /// The user id is empty or longer than 256 bytes.
    #[error("user_id must be 1 to 256 bytes of UTF-8")]
    UserId,
    /// More than [`MAX_ROLES`] roles.
    #[error("a user may have at most 64 roles")]
    TooManyRoles,
    /// A role name is empty, too long, or has characters other than `A-Z a-z 0-9 _ - . : /`.
    #[error("a role is 1 to 64 characters from A-Z a-z 0-9 _ - . : /")]
    Role,
    /// The attributes object is larger than [`MAX_ATTRIBUTES_LEN`] bytes as compact JSON.
    #[error("attributes must be at most 4096 bytes of JSON")]
    AttributesTooLarge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_1_to_256_bytes() {
        assert!(UserId::new("").is_err());
        assert!(UserId::new(&"a".repeat(256)).is_ok());
        assert!(UserId::new(&"a".repeat(257)).is_err());
        // 128 two-byte characters are 256 bytes.
        assert!(UserId::new(&"é".repeat(128)).is_ok());
        assert!(UserId::new(&"é".repeat(129)).is_err());
    }

    #[test]
    fn patches_are_checked_and_roles_deduplicated() {
        let p = UserPatch::new(Some(vec!["a".into(), "a".into(), "b".into()]), None, None).unwrap();
        assert_eq!(p.roles().unwrap(), ["a", "b"]);
        assert_eq!(
            UserPatch::new(Some(vec!["a b".into()]), None, None),
            Err(InvalidUser::Role)
        );
        assert_eq!(
            UserPatch::new(Some((0..65).map(|i| format!("r{i}")).collect()), None, None),
            Err(InvalidUser::TooManyRoles)
        );
        let mut big = Map::new();
        big.insert("k".into(), Value::String("x".repeat(5000)));
        assert_eq!(
            UserPatch::new(None, None, Some(big)),
            Err(InvalidUser::AttributesTooLarge)
        );
    }

    #[test]
    fn debug_escapes_control_characters() {
        let id = UserId::new("a\nb").unwrap();
        assert_eq!(format!("{id:?}"), "\"a\\nb\"");
    }
}
