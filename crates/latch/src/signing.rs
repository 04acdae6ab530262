//! The signing keyring file: `<data-dir>/signing-keys.json`, mode 0600, this node's Ed25519
//! keys for service tokens (private halves included: they never leave this file and memory).
//! Replaced atomically: written to a temporary file, fsynced, renamed over, directory fsynced;
//! a crash leaves the old ring or the new one, never half of either.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use latch_core::service_token::{Keyring, KeyringSink};
use latch_core::time::Timestamp;

/// The file name inside the data dir.
pub const KEYRING_FILE: &str = "signing-keys.json";

/// Saves the keyring to its file in the data dir.
#[derive(Debug, Clone)]
pub struct KeyringFile {
    path: PathBuf,
}

impl KeyringFile {
    /// The keyring file of `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(KEYRING_FILE),
        }
    }

    /// Reads the keyring, creating one with a first key (signing from `now`) if there is none.
    pub fn load_or_create(&self, now: Timestamp) -> Result<Keyring> {
        match fs::read_to_string(&self.path) {
            Ok(text) => {
                crate::keyfile::check_private(&self.path)?;
                Keyring::from_file(&text).with_context(|| {
                    format!(
                        "{} is damaged; restore it from backup, or move it away to start with a new signing key",
                        self.path.display()
                    )
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let ring = Keyring::first(now)?;
                self.save(&ring)
                    .with_context(|| format!("cannot create {}", self.path.display()))?;
                tracing::info!(path = %self.path.display(), "created a new service-token signing key");
                Ok(ring)
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }
}

impl KeyringSink for KeyringFile {
    fn save(&self, ring: &Keyring) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let _ = fs::remove_file(&tmp);
        let mut f = crate::keyfile::open_new(&tmp)?;
        f.write_all(ring.to_file().as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let f = KeyringFile::in_dir(dir.path());
        let a = f.load_or_create(Timestamp::from_millis(1000)).unwrap();
        let b = f.load_or_create(Timestamp::from_millis(9000)).unwrap();
        assert_eq!(a.keys()[0].kid(), b.keys()[0].kid());
        let mut c = b;
        c.rotate(Timestamp::from_millis(2000), 10, false).unwrap();
        f.save(&c).unwrap();
        assert_eq!(
            f.load_or_create(Timestamp::from_millis(0))
                .unwrap()
                .keys()
                .len(),
            2
        );
        assert!(!dir.path().join("signing-keys.json.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.path().join(KEYRING_FILE);
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            let e = f.load_or_create(Timestamp::from_millis(0)).unwrap_err();
            assert!(e.to_string().contains("chmod 600"), "{e}");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
            fs::write(&p, "{\"version\":1,\"keys\":[{}]}").unwrap();
            let e = f.load_or_create(Timestamp::from_millis(0)).unwrap_err();
            assert!(format!("{e:#}").contains("damaged"), "{e:#}");
        }
    }
}
