//! Secrets kept in the database (a source's external ID) are sealed with a key kept in
//! a file beside it, readable by its owner only: a copy of the database alone does not
//! reveal them.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("secret key file {0} does not hold a 32-byte hex key")]
    BadKey(String),
    #[error("a stored secret cannot be opened with this key file (was it replaced?)")]
    Open,
}

/// Seals and opens secrets with the database's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Where the key of the database at `db` lives: `CAIRN_SECRET_KEY_FILE`, else
/// `<db>.key`.
pub fn key_path(db: &Path) -> PathBuf {
    match std::env::var_os("CAIRN_SECRET_KEY_FILE") {
        Some(p) => PathBuf::from(p),
        None => {
            let mut p = db.as_os_str().to_owned();
            p.push(".key");
            PathBuf::from(p)
        }
    }
}

impl SecretBox {
    /// The key of the database at `db`, made (mode 0600) the first time.
    pub fn for_db(db: &Path) -> Result<SecretBox, SecretError> {
        let path = key_path(db);
        let shown = path.display().to_string();
        let io = |source| SecretError::Io {
            path: shown.clone(),
            source,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ChaCha20Poly1305::generate_key(&mut OsRng);
                let text = hex::encode(key);
                write_private(&path, &text).map_err(io)?;
                text
            }
            Err(e) => return Err(io(e)),
        };
        let bytes = hex::decode(text.trim()).map_err(|_| SecretError::BadKey(shown.clone()))?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey(shown));
        }
        Ok(SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
        })
    }

    /// The nonce followed by the sealed text.
    pub fn seal(&self, plain: &str) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for inputs this small.
        if let Ok(sealed) = self.cipher.encrypt(&nonce, plain.as_bytes()) {
            out.extend(sealed);
        }
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, SecretError> {
        if sealed.len() < 12 + 16 {
            return Err(SecretError::Open);
        }
        let (nonce, body) = sealed.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(plain).map_err(|_| SecretError::Open)
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::for_db(&dir.path().join("a.db")).unwrap();
        let sealed = a.seal("ext-id-123");
        assert!(!sealed.windows(10).any(|w| w == b"ext-id-123"));
        assert_eq!(a.open(&sealed).unwrap(), "ext-id-123");
        // The same key file again.
        let again = SecretBox::for_db(&dir.path().join("a.db")).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "ext-id-123");
        let b = SecretBox::for_db(&dir.path().join("b.db")).unwrap();
        assert!(matches!(b.open(&sealed), Err(SecretError::Open)));
        assert!(matches!(a.open(b"short"), Err(SecretError::Open)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("a.db.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
