//! API keys: how applications authenticate to the Latch service. Kept only as SHA-256 hashes,
//! checked in constant time against every known key.

use std::sync::Arc;

use subtle::{Choice, ConstantTimeEq};

use crate::store::ApiKeyRecord;
use crate::time::Timestamp;
use crate::token::{RandomError, random_bytes, random_secret, sha256};

/// The prefix of keys Latch generates.
pub const API_KEY_PREFIX: &str = "latch_k_";
/// The shortest key accepted from configuration.
pub const MIN_API_KEY_LEN: usize = 32;

/// A newly generated key: the text (shown once) and the record to store.
#[derive(Debug)]
pub struct NewApiKey {
    /// The key text. Print it once; never log it.
    pub key: ApiKeyText,
    /// What the store keeps.
    pub record: ApiKeyRecord,
}

/// API key text; `Debug` hides it.
pub struct ApiKeyText(pub String);

impl std::fmt::Debug for ApiKeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeyText(..)")
    }
}

/// Generates a key named `name`.
///
/// # Errors
/// [`RandomError`] if the OS random source fails.
pub fn generate(name: &str, now: Timestamp) -> Result<NewApiKey, RandomError> {
    let key = random_secret(API_KEY_PREFIX)?;
    let id_bytes: [u8; 6] = random_bytes()?;
    let id = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(NewApiKey {
        record: ApiKeyRecord {
            id,
            name: name.to_owned(),
            hash: sha256(key.as_bytes()),
            created_at: now,
        },
        key: ApiKeyText(key),
    })
}

/// Where a key accepted by [`ApiKeySet::check`] came from.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum KeySource {
    /// From `LATCH_API_KEYS` or the config file (index in that list).
    Config(usize),
    /// From the store, by id.
    Stored(String),
}

impl KeySource {
    /// The key's label: `config:N` or the stored key's id (never the key).
    pub fn label(&self) -> String {
        match self {
            Self::Config(i) => format!("config:{i}"),
            Self::Stored(id) => id.clone(),
        }
    }
}

/// One accepted key: its hash, where it came from, and its label (made once, shared per
/// request without a copy).
#[derive(Clone, Debug)]
struct Entry {
    hash: [u8; 32],
    source: KeySource,
    label: Arc<str>,
}

impl Entry {
    fn new(hash: [u8; 32], source: KeySource) -> Self {
        let label = Arc::from(source.label());
        Self {
            hash,
            source,
            label,
        }
    }
}

/// The keys a server accepts: configured ones (hashed at once) and stored ones.
#[derive(Clone, Debug, Default)]
pub struct ApiKeySet {
    entries: Vec<Entry>,
}

/// Why a configured key was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("API key number {0} is shorter than 32 characters")]
pub struct ShortApiKey(pub usize);

impl ApiKeySet {
    /// The keys from configuration; the text is hashed at once and not kept.
    ///
    /// # Errors
    /// [`ShortApiKey`] for a configured key under 32 characters.
    pub fn from_config(configured: &[String]) -> Result<Self, ShortApiKey> {
        let mut entries = Vec::with_capacity(configured.len());
        for (i, k) in configured.iter().enumerate() {
            if k.chars().count() < MIN_API_KEY_LEN {
                return Err(ShortApiKey(i + 1));
            }
            entries.push(Entry::new(sha256(k.as_bytes()), KeySource::Config(i + 1)));
        }
        Ok(Self { entries })
    }

    /// These configured keys plus `stored` (replacing any stored keys held before).
    pub fn with_stored(&self, stored: &[ApiKeyRecord]) -> Self {
        let mut entries: Vec<_> = self
            .entries
            .iter()
            .filter(|e| matches!(e.source, KeySource::Config(_)))
            .cloned()
            .collect();
        entries.extend(
            stored
                .iter()
                .map(|r| Entry::new(r.hash, KeySource::Stored(r.id.clone()))),
        );
        Self { entries }
    }

    /// Whether no key is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many keys come from configuration.
    pub fn configured(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.source, KeySource::Config(_)))
            .count()
    }

    /// The source of the key `presented`, if it is one of ours. Compares against every key in
    /// constant time, so timing reveals neither which key nor how much of it matched.
    pub fn check(&self, presented: &[u8]) -> Option<&KeySource> {
        self.find(presented).map(|e| &e.source)
    }

    /// The label of the key `presented` (`config:N` or a stored id), checked as
    /// [`check`](Self::check) does.
    pub fn check_label(&self, presented: &[u8]) -> Option<Arc<str>> {
        self.find(presented).map(|e| Arc::clone(&e.label))
    }

    fn find(&self, presented: &[u8]) -> Option<&Entry> {
        let h = sha256(presented);
        let mut found: Option<&Entry> = None;
        let mut any = Choice::from(0);
        for e in &self.entries {
            let m = e.hash.ct_eq(&h);
            any |= m;
            if bool::from(m) {
                found = Some(e);
            }
        }
        if bool::from(any) { found } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_check_and_others_do_not() {
        let k = generate("ci", Timestamp::from_millis(0)).unwrap();
        assert!(k.key.0.starts_with(API_KEY_PREFIX) && k.key.0.len() >= MIN_API_KEY_LEN);
        let set = ApiKeySet::from_config(&["x".repeat(32)])
            .unwrap()
            .with_stored(std::slice::from_ref(&k.record));
        assert_eq!(set.configured(), 1);
        assert_eq!(
            set.check(k.key.0.as_bytes()),
            Some(&KeySource::Stored(k.record.id.clone()))
        );
        assert_eq!(
            set.check("x".repeat(32).as_bytes()),
            Some(&KeySource::Config(1))
        );
        assert_eq!(set.check(b"nope"), None);
        assert_eq!(
            set.check_label(k.key.0.as_bytes()).as_deref(),
            Some(k.record.id.as_str())
        );
        assert_eq!(
            set.check_label("x".repeat(32).as_bytes()).as_deref(),
            Some("config:1")
        );
        assert_eq!(set.check(b""), None);
        assert!(!format!("{k:?}").contains(&k.key.0));
    }

    #[test]
    fn short_configured_keys_are_refused() {
        assert_eq!(
            ApiKeySet::from_config(&["x".repeat(32), "short".into()]).unwrap_err(),
            ShortApiKey(2)
        );
    }
}
