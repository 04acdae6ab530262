//! The token key file: `<data-dir>/token.key`, 32 random bytes, mode 0600, created on first
//! start. Every node sharing the store must use the same key; with the embedded store there is
//! one node, and the key lives next to the database it protects.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use latch_core::token::TokenKey;

/// The file name inside the data dir.
pub const KEY_FILE: &str = "token.key";

/// Reads the key, creating it (0600, written and fsynced before use) if it does not exist.
pub fn load_or_create(data_dir: &Path) -> Result<TokenKey> {
    let path = data_dir.join(KEY_FILE);
    match open_new(&path) {
        Ok(mut f) => {
            let bytes = TokenKey::generate_bytes()?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            tracing::info!(path = %path.display(), "created a new token key");
            Ok(TokenKey::from_bytes(&bytes))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Creates `path` (mode 0600) for writing; fails if it exists.
pub fn open_new(path: &Path) -> std::io::Result<fs::File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Refuses a secret file that other users may read, saying how to fix it.
pub fn check_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by other users (mode {:o}); run `chmod 600 {}` and start again",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<TokenKey> {
    check_private(path)?;
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let Ok(bytes) = <[u8; TokenKey::LEN]>::try_from(bytes.as_slice()) else {
        bail!(
            "{} is not a Latch token key (expected {} bytes); restore it from backup, or delete it to invalidate every session",
            path.display(),
            TokenKey::LEN
        );
    };
    Ok(TokenKey::from_bytes(&bytes))
}

/// Creates an empty file with mode 0600 unless it exists.
pub fn create_private(path: &Path) -> Result<()> {
    match open_new(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Creates the data dir (0700) if needed.
pub fn ensure_data_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        let t = a
            .issue(
                latch_core::token::SessionId::generate(latch_core::token::Shard::of(
                    &latch_core::user::UserId::new("k").unwrap(),
                ))
                .unwrap(),
            )
            .unwrap();
        let p = latch_core::token::ParsedToken::parse(t.token.expose()).unwrap();
        assert!(b.check_tag(&p));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_a_damaged_or_exposed_key() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.path().join(KEY_FILE);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
            assert!(
                load_or_create(dir.path())
                    .unwrap_err()
                    .to_string()
                    .contains("not a Latch token key")
            );
            fs::write(&p, [0u8; 32]).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(
                load_or_create(dir.path())
                    .unwrap_err()
                    .to_string()
                    .contains("chmod 600")
            );
        }
    }
}
