//! Service tokens: short-lived EdDSA JWTs minted from a live session for one audience, so a
//! backend service can learn who is calling without calling Latch. The one place in Latch where
//! a JWT belongs (DESIGN.md): it lives at most five minutes, names one service, and its keys
//! are published as a JWK Set.
//!
//! The token format (header, claims, signing) is `latch-verify`'s, the crate services use to
//! check these tokens, so the minting and the checking side cannot drift apart.
//!
//! Each node signs with keys of its own ([`keyring`]), kept in its data dir by the binary
//! through a [`KeyringSink`], and publishes their public halves through the store, so every
//! node's `/.well-known/jwks.json` lists every node's keys.

pub mod keyring;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_verify::Claims;
use latch_verify::keys::{Jwk, Jwks};

use crate::store::{PublishedKey, Store, StoreError};
use crate::time::Timestamp;
use crate::token::{RandomError, random_bytes};
use crate::validation::ActiveSession;

pub use keyring::{KeyEntry, KeyState, Keyring, KeyringError, Rotation};

/// The default lifetime of a service token.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// The longest lifetime a service token may be configured to have.
pub const MAX_TTL: Duration = Duration::from_secs(latch_verify::MAX_LIFETIME_S);
/// How long a new key is published before it signs, by default: longer than verifiers cache
/// a key set (`latch-verify` refetches every 5 minutes; `/.well-known/jwks.json` allows 60 s of
/// HTTP caching), so every verifier knows a key before it sees a token signed with it.
pub const DEFAULT_PUBLISH_AHEAD: Duration = Duration::from_secs(600);
/// How often keys rotate by themselves, by default: 30 days.
pub const DEFAULT_ROTATE_EVERY: Duration = Duration::from_secs(30 * 86_400);
/// How long a JWK Set read from the store is reused.
const JWKS_MEMO_MS: u64 = 1000;
/// How long the last JWK Set read stays usable while the store cannot be read.
const JWKS_STALE_MS: u64 = 60_000;

/// The longest audience name.
pub const MAX_AUDIENCE_LEN: usize = 128;

/// Checks an audience name: 1 to 128 visible ASCII characters, no comma.
pub fn valid_audience(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= MAX_AUDIENCE_LEN
        && a.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// What a deployment decides about service tokens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServiceTokenPolicy {
    /// The `iss` claim: names this Latch deployment. Default `latch`.
    pub issuer: String,
    /// The lifetime of a token (`exp - iat`). Default 60 s, at most [`MAX_TTL`].
    pub ttl: Duration,
    /// The audiences tokens may be minted for. None by default: minting is off.
    pub audiences: BTreeSet<String>,
    /// Per API key (by its label: `config:N` or a stored key's id), the audiences it may mint
    /// for. `None`: every key may mint for every audience above.
    pub key_audiences: Option<BTreeMap<String, BTreeSet<String>>>,
    /// How often keys rotate by themselves; `None`: only on `latch keys rotate`.
    pub rotate_every: Option<Duration>,
    /// How long a new key is published before it signs.
    pub publish_ahead: Duration,
}

impl Default for ServiceTokenPolicy {
    fn default() -> Self {
        Self {
            issuer: "latch".into(),
            ttl: DEFAULT_TTL,
            audiences: BTreeSet::new(),
            key_audiences: None,
            rotate_every: Some(DEFAULT_ROTATE_EVERY),
            publish_ahead: DEFAULT_PUBLISH_AHEAD,
        }
    }
}

/// Where the keyring is kept between runs (the binary: a 0600 file in the data dir). A
/// rotation is saved before its key is used, so a crash cannot lose a key that signed.
pub trait KeyringSink: Send + Sync + 'static {
    /// Durably replaces the saved keyring.
    ///
    /// # Errors
    /// The I/O error; the rotation is then not applied.
    fn save(&self, ring: &Keyring) -> std::io::Result<()>;
}

/// A keyring that lives only in memory (tests, and embedders who never restart).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ephemeral;

impl KeyringSink for Ephemeral {
    fn save(&self, _: &Keyring) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a service token was not minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// This node has no key that signs now.
    #[error("no signing key is in force")]
    NoSigningKey,
    /// The OS random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The keyring could not be saved; nothing changed.
    #[error("cannot save the keyring: {0}")]
    Save(#[from] std::io::Error),
    /// The OS random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The public keys could not be published.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A minted service token.
pub struct MintedToken {
    /// The compact JWS. Hand it to the caller; never log it.
    pub jwt: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// A key as listed to operators: never the private half.
#[derive(Clone, Debug)]
pub struct KeyInfo {
    /// The key id.
    pub kid: String,
    /// Its state now.
    pub state: KeyState,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it signs from.
    pub signs_from: Timestamp,
    /// When it stops signing, if scheduled.
    pub signs_until: Option<Timestamp>,
    /// Until when its public half is published, as of now.
    pub published_until: Timestamp,
}

/// A node's service-token minting: the policy, its keyring, and where the keyring is saved.
pub struct ServiceTokens {
    /// Issuer, lifetime, audiences, rotation schedule.
    policy: ServiceTokenPolicy,
    /// The keys; replaced whole on every change, so a mint reads one consistent ring.
    ring: RwLock<Arc<Keyring>>,
    /// Saves the ring before a changed ring is used.
    sink: Arc<dyn KeyringSink>,
    /// Serializes changes to the ring (rotate, upkeep), so none is lost between read and save.
    changing: Mutex<()>,
    /// The last JWK Set read from the store, and when: reused for a second, and while the store
    /// cannot be read, for a minute.
    jwks: Mutex<Option<(Timestamp, Arc<str>)>>,
}

impl ServiceTokens {
    /// Minting with `policy`, signing with `ring`, saving changes to `sink`.
    pub fn new(policy: ServiceTokenPolicy, ring: Keyring, sink: Arc<dyn KeyringSink>) -> Self {
        Self {
            policy,
            ring: RwLock::new(Arc::new(ring)),
            sink,
            changing: Mutex::new(()),
            jwks: Mutex::new(None),
        }
    }

    /// Minting switched off: no audiences, no keys, no rotation.
    pub fn disabled() -> Self {
        let policy = ServiceTokenPolicy {
            rotate_every: None,
            ..ServiceTokenPolicy::default()
        };
        Self::new(policy, Keyring::default(), Arc::new(Ephemeral))
    }

    /// The policy in force.
    pub fn policy(&self) -> &ServiceTokenPolicy {
        &self.policy
    }

    /// The keyring now.
    pub fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether the API key labelled `caller` may mint tokens for `audience`.
    pub fn allows(&self, caller: &str, audience: &str) -> bool {
        if !self.policy.audiences.contains(audience) {
            return false;
        }
        match &self.policy.key_audiences {
            None => true,
            Some(per_key) => per_key.get(caller).is_some_and(|a| a.contains(audience)),
        }
    }

    /// Mints a token for `audience` from `active` at `now`. The caller has checked
    /// [`allows`](Self::allows) and that the session is active.
    ///
    /// # Errors
    /// [`MintError`].
    pub fn mint(
        &self,
        active: &ActiveSession,
        audience: &str,
        now: Timestamp,
    ) -> Result<MintedToken, MintError> {
        let ring = self.keyring();
        let key = ring.signing(now).ok_or(MintError::NoSigningKey)?;
        let iat = now.as_millis() / 1000;
        let ttl = self.policy.ttl.as_secs().clamp(1, MAX_TTL.as_secs());
        let user = active.user();
        let claims = Claims {
            iss: self.policy.issuer.clone(),
            sub: user.id.as_str().to_owned(),
            aud: audience.to_owned(),
            exp: iat + ttl,
            iat,
            nbf: iat,
            jti: URL_SAFE_NO_PAD.encode(random_bytes::<16>()?),
            sid: active.record().id.to_string(),
            roles: user.roles.clone(),
        };
        Ok(MintedToken {
            jwt: claims.sign(key.signing_key(), key.kid()),
            expires_in: ttl,
        })
    }

    /// Rotates the keys (see [`keyring`]), saves the ring, publishes the public keys.
    ///
    /// # Errors
    /// [`KeyError`]; on a save failure nothing changed. A publish failure leaves the rotation
    /// in force (the next upkeep round publishes again).
    pub async fn rotate(
        &self,
        store: &dyn Store,
        now: Timestamp,
        immediately: bool,
    ) -> Result<Rotation, KeyError> {
        let r = self.rotate_ring(now, immediately)?;
        self.publish(store, now).await?;
        Ok(r)
    }

    /// The rotation itself: saved and in force, not yet published.
    fn rotate_ring(&self, now: Timestamp, immediately: bool) -> Result<Rotation, KeyError> {
        let ahead = crate::time::duration_ms(self.policy.publish_ahead);
        let r = self.change(|ring| ring.rotate(now, ahead, immediately))?;
        if let Rotation::Scheduled { kid, signs_from } = &r {
            tracing::info!(target: "latch::audit", event = "signing_key.rotated", kid = %kid, signs_from = %signs_from, immediately);
        }
        Ok(r)
    }

    /// One upkeep round: rotates if the schedule says so, publishes the public keys (renewing
    /// their horizon), and drops keys that are gone.
    ///
    /// # Errors
    /// [`KeyError`].
    pub async fn upkeep(&self, store: &dyn Store, now: Timestamp) -> Result<(), KeyError> {
        if let Some(every) = self.policy.rotate_every
            && self.keyring().due(now, crate::time::duration_ms(every))
        {
            self.rotate_ring(now, false)?;
        }
        // Publish before pruning: a key withdrawn since the last publish must reach the store
        // with its ended time before it leaves the ring.
        self.publish(store, now).await?;
        if self
            .keyring()
            .keys()
            .iter()
            .any(|k| k.state(now) == KeyState::Gone)
        {
            self.change(|ring| {
                ring.prune(now);
                Ok::<_, RandomError>(())
            })?;
        }
        Ok(())
    }

    /// Publishes the public keys through `store`.
    ///
    /// # Errors
    /// [`KeyError::Store`].
    pub async fn publish(&self, store: &dyn Store, now: Timestamp) -> Result<(), KeyError> {
        let keys: Vec<PublishedKey> = self
            .keyring()
            .published(now)
            .into_iter()
            .map(|(jwk, until)| PublishedKey::new(&jwk, until))
            .collect();
        store.publish_keys(&keys, now).await?;
        self.forget_jwks();
        Ok(())
    }

    /// The JWK Set every node publishes, as JSON.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read and no recent copy is at hand.
    pub async fn jwks(&self, store: &dyn Store, now: Timestamp) -> Result<Arc<str>, StoreError> {
        let memo = self
            .jwks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((at, doc)) = &memo
            && now.millis_since(*at) < JWKS_MEMO_MS
        {
            return Ok(Arc::clone(doc));
        }
        match store.published_keys(now).await {
            Ok(keys) => {
                let doc: Arc<str> = Arc::from(jwks_json(&keys));
                *self.jwks.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((now, Arc::clone(&doc)));
                Ok(doc)
            }
            Err(e) => match memo {
                Some((at, doc)) if now.millis_since(at) < JWKS_STALE_MS => Ok(doc),
                _ => Err(e),
            },
        }
    }

    /// The keys, for operators.
    pub fn list(&self, now: Timestamp) -> Vec<KeyInfo> {
        self.keyring()
            .keys()
            .iter()
            .map(|k| KeyInfo {
                kid: k.kid().to_owned(),
                state: k.state(now),
                created_at: k.created_at,
                signs_from: k.signs_from,
                signs_until: k.signs_until,
                published_until: k.published_until(now),
            })
            .collect()
    }

    /// Applies `f` to a copy of the ring, saves it, then puts it in force.
    fn change<T, E>(&self, f: impl FnOnce(&mut Keyring) -> Result<T, E>) -> Result<T, KeyError>
    where
        KeyError: From<E>,
    {
        let _one = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = (*self.keyring()).clone();
        let out = f(&mut next)?;
        self.sink.save(&next)?;
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(out)
    }

    fn forget_jwks(&self) {
        *self.jwks.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl std::fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTokens")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A JWK Set document from published keys (each already a JWK in JSON); keys that do not
/// parse are left out rather than breaking every verifier.
fn jwks_json(keys: &[PublishedKey]) -> String {
    let doc = Jwks {
        keys: keys
            .iter()
            .filter_map(|k| serde_json::from_str::<Jwk>(&k.jwk).ok())
            .collect(),
    };
    serde_json::to_string(&doc).unwrap_or_else(|_| r#"{"keys":[]}"#.into())
}
