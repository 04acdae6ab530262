//! The signing keyring: this node's Ed25519 keys for service tokens, their schedule, and what
//! is published of them.
//!
//! A key moves through four states, decided by its times alone (so a restart or a clock jump
//! cannot confuse them):
//!
//! | state | when | signs | published |
//! |---|---|---|---|
//! | pending | before `signs_from` | no | yes: verifiers fetch it before it is used |
//! | signing | from `signs_from`, before `signs_until` | yes | yes |
//! | retiring | after `signs_until`, until every token it signed has expired | no | yes |
//! | gone | after that | no | no (pruned from the file) |
//!
//! A rotation creates a pending key that signs from `now + publish_ahead` and ends the current
//! key's signing at that same instant, so exactly one key signs at any time and a token signed
//! by either key verifies against what is published, whenever it is checked. An emergency
//! rotation (`immediately`) makes the new key sign now and withdraws every other key at once:
//! for a key that may have leaked, where refusing its tokens is the point.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use latch_verify::keys::{Jwk, thumbprint};
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::token::{RandomError, random_bytes};

/// How long after a key stops signing its public half stays published, in milliseconds: the
/// longest lifetime a service token can have, plus a minute of clock leeway.
pub const RETIRE_TAIL_MS: u64 = (latch_verify::MAX_LIFETIME_S + 60) * 1000;

/// A key that still signs (or will) is published this far ahead, in milliseconds, and the
/// node renews that on every upkeep round. If the node disappears, its key leaves the JWKS
/// after this long: well after its last token expired.
pub const LIVE_HORIZON_MS: u64 = 3600 * 1000;

/// One Ed25519 key and its schedule.
#[derive(Clone)]
pub struct KeyEntry {
    kid: String,
    key: SigningKey,
    /// When the key was made.
    pub created_at: Timestamp,
    /// When it starts signing.
    pub signs_from: Timestamp,
    /// When it stops signing (`None`: not scheduled to stop).
    pub signs_until: Option<Timestamp>,
    /// Withdrawn by an emergency rotation: unpublished the moment it stopped signing.
    pub withdrawn: bool,
}

/// Where a key is in its life at a given time.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not yet signing.
    Pending,
    /// Signing new tokens.
    Signing,
    /// No longer signing; published until its last tokens expire.
    Retiring,
    /// Neither signing nor published.
    Gone,
}

impl KeyEntry {
    fn generate(now: Timestamp, signs_from: Timestamp) -> Result<Self, RandomError> {
        let key = SigningKey::from_bytes(&random_bytes::<32>()?);
        Ok(Self {
            kid: thumbprint(&key.verifying_key()),
            key,
            created_at: now,
            signs_from,
            signs_until: None,
            withdrawn: false,
        })
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key, for signing.
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key.
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Jwk {
        Jwk::ed25519(&self.key.verifying_key())
    }

    /// The state at `now`.
    pub fn state(&self, now: Timestamp) -> KeyState {
        if now < self.signs_from {
            KeyState::Pending
        } else if self.signs_until.is_none_or(|t| now < t) {
            KeyState::Signing
        } else if now < self.published_until(now) {
            KeyState::Retiring
        } else {
            KeyState::Gone
        }
    }

    /// Until when the public key must be published, as seen at `now`.
    pub fn published_until(&self, now: Timestamp) -> Timestamp {
        match self.signs_until {
            Some(t) if self.withdrawn => t,
            Some(t) => Timestamp::from_millis(t.as_millis().saturating_add(RETIRE_TAIL_MS)),
            None => Timestamp::from_millis(now.as_millis().saturating_add(LIVE_HORIZON_MS)),
        }
    }
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .field("signs_until", &self.signs_until)
            .field("withdrawn", &self.withdrawn)
            .finish_non_exhaustive()
    }
}

/// What a rotation did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Rotation {
    /// A new key was made; it signs from `signs_from`.
    Scheduled {
        /// The new key's id.
        kid: String,
        /// When it starts signing.
        signs_from: Timestamp,
    },
    /// A rotation was already pending; nothing changed.
    AlreadyPending {
        /// The pending key's id.
        kid: String,
        /// When it starts signing.
        signs_from: Timestamp,
    },
}

/// A node's signing keys, ordered by `signs_from`.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<KeyEntry>,
}

/// Why a keyring file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// Not a keyring document.
    #[error("not a Latch keyring: {0}")]
    Format(String),
    /// A key's bytes do not match its id.
    #[error("key {0} does not match its id")]
    Mismatch(String),
}

impl Keyring {
    /// A keyring with one key that signs from `now`: a first start has no verifier that
    /// could know an earlier key, so there is nothing to publish ahead of.
    ///
    /// # Errors
    /// [`RandomError`].
    pub fn first(now: Timestamp) -> Result<Self, RandomError> {
        Ok(Self {
            keys: vec![KeyEntry::generate(now, now)?],
        })
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// The key that signs at `now`, if any.
    pub fn signing(&self, now: Timestamp) -> Option<&KeyEntry> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.state(now) == KeyState::Signing)
    }

    fn pending(&self, now: Timestamp) -> Option<&KeyEntry> {
        self.keys.iter().find(|k| k.state(now) == KeyState::Pending)
    }

    /// Schedules a new key to sign from `now + publish_ahead_ms`, ending the current key's
    /// signing at that instant. With `immediately`, the new key signs now and every other key
    /// is withdrawn at once.
    ///
    /// # Errors
    /// [`RandomError`].
    pub fn rotate(
        &mut self,
        now: Timestamp,
        publish_ahead_ms: u64,
        immediately: bool,
    ) -> Result<Rotation, RandomError> {
        if !immediately && let Some(p) = self.pending(now) {
            return Ok(Rotation::AlreadyPending {
                kid: p.kid.clone(),
                signs_from: p.signs_from,
            });
        }
        let from = if immediately {
            now
        } else {
            Timestamp::from_millis(now.as_millis().saturating_add(publish_ahead_ms))
        };
        let new = KeyEntry::generate(now, from)?;
        for k in &mut self.keys {
            if immediately {
                k.signs_from = k.signs_from.min(now);
                k.signs_until = Some(now);
                k.withdrawn = true;
            } else if k.signs_until.is_none_or(|t| t > from) {
                k.signs_until = Some(from.max(k.signs_from));
            }
        }
        let r = Rotation::Scheduled {
            kid: new.kid.clone(),
            signs_from: from,
        };
        self.keys.push(new);
        self.keys.sort_by_key(|k| k.signs_from);
        Ok(r)
    }

    /// Whether a scheduled rotation is due at `now`: the signing key has signed for `every_ms`
    /// and no rotation is pending. A keyring with no signing key is always due.
    pub fn due(&self, now: Timestamp, every_ms: u64) -> bool {
        if self.pending(now).is_some() {
            return false;
        }
        self.signing(now)
            .is_none_or(|k| now.millis_since(k.signs_from) >= every_ms)
    }

    /// Drops keys that are gone at `now`; whether any was dropped. Their private halves leave
    /// the file at the next save.
    pub fn prune(&mut self, now: Timestamp) -> bool {
        let before = self.keys.len();
        self.keys.retain(|k| k.state(now) != KeyState::Gone);
        self.keys.len() != before
    }

    /// Every key's public half with how long it stays published, as of `now`. Keys that are
    /// gone are included with their past time, so publishing them makes the store drop a
    /// longer time published earlier (a withdrawal).
    pub fn published(&self, now: Timestamp) -> Vec<(Jwk, Timestamp)> {
        self.keys
            .iter()
            .map(|k| (k.jwk(), k.published_until(now)))
            .collect()
    }

    /// The keyring as its file holds it (private keys included: the file is 0600).
    pub fn to_file(&self) -> String {
        let doc = FileDoc {
            version: 1,
            keys: self
                .keys
                .iter()
                .map(|k| FileKey {
                    kid: k.kid.clone(),
                    secret: URL_SAFE_NO_PAD.encode(k.key.as_bytes()),
                    created_at: k.created_at.as_millis(),
                    signs_from: k.signs_from.as_millis(),
                    signs_until: k.signs_until.map(Timestamp::as_millis),
                    withdrawn: k.withdrawn,
                })
                .collect(),
        };
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// Reads a keyring file.
    ///
    /// # Errors
    /// [`KeyringError`] for a document that is not a keyring, or a key that does not match
    /// its id.
    pub fn from_file(text: &str) -> Result<Self, KeyringError> {
        // Position and kind only: the parser's message may quote a value, and this file holds
        // private keys.
        let doc: FileDoc = serde_json::from_str(text).map_err(|e| {
            KeyringError::Format(format!(
                "{:?} error at line {}, column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if doc.version != 1 {
            return Err(KeyringError::Format(format!(
                "unknown version {}",
                doc.version
            )));
        }
        let mut keys = Vec::with_capacity(doc.keys.len());
        for k in doc.keys {
            let bytes = URL_SAFE_NO_PAD
                .decode(&k.secret)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| KeyringError::Mismatch(k.kid.clone()))?;
            let key = SigningKey::from_bytes(&bytes);
            if thumbprint(&key.verifying_key()) != k.kid {
                return Err(KeyringError::Mismatch(k.kid));
            }
            keys.push(KeyEntry {
                kid: k.kid,
                key,
                created_at: Timestamp::from_millis(k.created_at),
                signs_from: Timestamp::from_millis(k.signs_from),
                signs_until: k.signs_until.map(Timestamp::from_millis),
                withdrawn: k.withdrawn,
            });
        }
        keys.sort_by_key(|k| k.signs_from);
        Ok(Self { keys })
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    version: u32,
    keys: Vec<FileKey>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileKey {
    kid: String,
    secret: String,
    created_at: u64,
    signs_from: u64,
    signs_until: Option<u64>,
    #[serde(default)]
    withdrawn: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn a_rotation_publishes_ahead_then_hands_over_then_retires() {
        let t0 = 1_000_000_000;
        let mut ring = Keyring::first(at(t0)).unwrap();
        let old = ring.signing(at(t0)).unwrap().kid().to_owned();
        let Rotation::Scheduled {
            kid: new,
            signs_from,
        } = ring.rotate(at(t0 + MIN), 10 * MIN, false).unwrap()
        else {
            panic!("expected a new key")
        };
        assert_eq!(signs_from, at(t0 + 11 * MIN));
        // Before the hand-over: the old key signs, both are published.
        let before = at(t0 + 11 * MIN - 1);
        assert_eq!(ring.signing(before).unwrap().kid(), old);
        assert_eq!(ring.published(before).len(), 2);
        // From the hand-over: the new key signs, the old one is still published.
        let after = at(t0 + 11 * MIN);
        assert_eq!(ring.signing(after).unwrap().kid(), new);
        assert_eq!(ring.published(after).len(), 2);
        // A second rotation while one is pending changes nothing.
        assert!(matches!(
            ring.rotate(at(t0 + 2 * MIN), 10 * MIN, false).unwrap(),
            Rotation::AlreadyPending { .. }
        ));
        // The old key is published until its last token (max lifetime + leeway) has expired.
        let tail_end = t0 + 11 * MIN + RETIRE_TAIL_MS;
        assert_eq!(ring.keys()[0].state(at(tail_end - 1)), KeyState::Retiring);
        assert_eq!(ring.keys()[0].state(at(tail_end)), KeyState::Gone);
        assert!(ring.prune(at(tail_end)));
        assert_eq!(ring.keys().len(), 1);
        assert_eq!(ring.published(at(tail_end))[0].0.kid, new);
    }

    #[test]
    fn an_emergency_rotation_signs_now_and_withdraws_the_rest() {
        let mut ring = Keyring::first(at(0)).unwrap();
        ring.rotate(at(MIN), 10 * MIN, false).unwrap();
        let Rotation::Scheduled { kid, .. } = ring.rotate(at(2 * MIN), 10 * MIN, true).unwrap()
        else {
            panic!()
        };
        let now = at(2 * MIN);
        assert_eq!(ring.signing(now).unwrap().kid(), kid);
        let published: Vec<_> = ring
            .published(now)
            .into_iter()
            .filter(|(_, until)| *until > now)
            .collect();
        assert_eq!(published.len(), 1, "{published:?}");
        assert_eq!(published[0].0.kid, kid);
        assert_eq!(
            ring.published(now).len(),
            3,
            "withdrawn keys are published as ended"
        );
        assert!(ring.prune(now));
        assert_eq!(ring.keys().len(), 1);
    }

    #[test]
    fn rotation_is_due_after_the_interval_unless_one_is_pending() {
        let mut ring = Keyring::first(at(0)).unwrap();
        assert!(!ring.due(at(MIN), 2 * MIN));
        assert!(ring.due(at(2 * MIN), 2 * MIN));
        ring.rotate(at(2 * MIN), MIN, false).unwrap();
        assert!(!ring.due(at(2 * MIN + 1), 2 * MIN));
        assert!(!ring.due(at(3 * MIN), 2 * MIN), "the new key just started");
        assert!(Keyring::default().due(at(0), 2 * MIN));
    }

    #[test]
    fn the_file_round_trips_and_refuses_tampering() {
        let mut ring = Keyring::first(at(5)).unwrap();
        ring.rotate(at(6), 100, false).unwrap();
        let text = ring.to_file();
        let back = Keyring::from_file(&text).unwrap();
        assert_eq!(back.keys().len(), 2);
        assert_eq!(
            back.signing(at(6)).unwrap().kid(),
            ring.signing(at(6)).unwrap().kid()
        );
        assert_eq!(back.keys()[0].signs_until, Some(at(106)));
        let other = Keyring::first(at(0)).unwrap();
        let swapped = text.replacen(ring.keys()[0].kid(), other.keys()[0].kid(), 1);
        assert!(matches!(
            Keyring::from_file(&swapped),
            Err(KeyringError::Mismatch(_))
        ));
        assert!(Keyring::from_file("{}").is_err());
        assert!(Keyring::from_file("not json").is_err());
        assert!(
            !format!("{ring:?}").contains(&URL_SAFE_NO_PAD.encode(ring.keys()[0].key.as_bytes()))
        );
    }
}
