//! Credential encryption: AES-256-GCM with a random 96-bit nonce stored before the ciphertext,
//! and the id of the key stored beside it so keys can be rotated.

use std::collections::HashMap;
use std::path::PathBuf;

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::Digest;

use crate::config;

const NONCE_LEN: usize = 12;

/// The master keys: one current key for encryption and older ones for decryption.
/// Deliberately no `Debug`: key material must never be printed.
pub struct Keyring {
    current_id: String,
    keys: HashMap<String, Aes256Gcm>,
}

/// Why a key or a ciphertext could not be used. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Key is not base64 of 32 bytes.
    #[error("master key must be base64 of 32 bytes")]
    BadKey,
    /// The ciphertext names a key we do not have.
    #[error("unknown key id `{0}`")]
    UnknownKey(String),
    /// Tampered or wrong key.
    #[error("decryption failed")]
    Decrypt,
    /// Reading or writing the dev key file failed.
    #[error("dev key file: {0}")]
    Io(String),
}

impl Keyring {
    /// A keyring from raw 32-byte keys; the first is current.
    pub fn from_keys(keys: &[(String, [u8; 32])]) -> Result<Self, CryptoError> {
        let first = keys.first().ok_or(CryptoError::BadKey)?;
        let mut map = HashMap::new();
        for (id, k) in keys {
            let key = Key::<Aes256Gcm>::from(*k);
            map.insert(id.clone(), Aes256Gcm::new(&key));
        }
        Ok(Self {
            current_id: first.0.clone(),
            keys: map,
        })
    }

    /// Loads the keys from the environment (`MARKETSYNC_MASTER_KEY`, optional
    /// `MARKETSYNC_MASTER_KEY_ID` and `MARKETSYNC_OLD_MASTER_KEYS`). Without a key, a dev key
    /// is generated into a local file (`MARKETSYNC_MASTER_KEY_FILE`, default
    /// `.marketsync/dev-master.key`) with a warning.
    pub fn from_env() -> Result<Self, CryptoError> {
        let (raw, source_is_dev) = match config::var(config::MASTER_KEY) {
            Some(b64) => (decode_key(&b64)?, false),
            None => (dev_key()?, true),
        };
        if source_is_dev {
            tracing::warn!(
                "no MARKETSYNC_MASTER_KEY set: using a generated development key; set one in production"
            );
        }
        let id = config::var(config::MASTER_KEY_ID).unwrap_or_else(|| key_id(&raw));
        let mut keys = vec![(id, raw)];
        if let Some(old) = config::var(config::OLD_MASTER_KEYS) {
            for part in old.split(',').filter(|p| !p.trim().is_empty()) {
                let (id, b64) = part.split_once(':').ok_or(CryptoError::BadKey)?;
                keys.push((id.trim().to_string(), decode_key(b64.trim())?));
            }
        }
        Self::from_keys(&keys)
    }

    /// Id of the key new ciphertexts use.
    pub fn current_key_id(&self) -> &str {
        &self.current_id
    }

    /// Encrypts with the current key: returns (key id, nonce ‖ ciphertext).
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<(String, Vec<u8>), CryptoError> {
        let cipher = self
            .keys
            .get(&self.current_id)
            .ok_or_else(|| CryptoError::UnknownKey(self.current_id.clone()))?;
        let nonce = Nonce::generate();
        let ct = cipher
            .encrypt(&nonce, plaintext)
            .map_err(|_| CryptoError::Decrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ct);
        Ok((self.current_id.clone(), out))
    }

    /// Decrypts what [`Keyring::encrypt`] produced with the named key.
    pub fn decrypt(&self, key_id: &str, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        if data.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (n, ct) = data.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(n).map_err(|_| CryptoError::Decrypt)?;
        cipher.decrypt(&nonce, ct).map_err(|_| CryptoError::Decrypt)
    }
}

/// Stable id of a key: `k` + 8 hex digits of its SHA-256.
pub fn key_id(raw: &[u8; 32]) -> String {
    let digest = sha2::Sha256::digest(raw);
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("k{hex}")
}

fn decode_key(b64: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = B64.decode(b64.trim()).map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

/// A fresh random key, base64.
pub fn generate_key_b64() -> String {
    let key = Key::<Aes256Gcm>::generate();
    B64.encode(key.as_slice())
}

fn dev_key() -> Result<[u8; 32], CryptoError> {
    let path = PathBuf::from(config::var_or(
        config::MASTER_KEY_FILE,
        ".marketsync/dev-master.key",
    ));
    if let Ok(text) = std::fs::read_to_string(&path) {
        return decode_key(&text);
    }
    let b64 = generate_key_b64();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CryptoError::Io(e.to_string()))?;
    }
    std::fs::write(&path, &b64).map_err(|e| CryptoError::Io(e.to_string()))?;
    tracing::warn!(path = %path.display(), "generated a development master key");
    decode_key(&b64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(id: &str, byte: u8) -> Keyring {
        Keyring::from_keys(&[(id.to_string(), [byte; 32])]).expect("keyring")
    }

    #[test]
    fn round_trip_and_nonce_is_random() {
        let k = ring("a", 1);
        let (id, c1) = k.encrypt(b"secret").expect("enc");
        let (_, c2) = k.encrypt(b"secret").expect("enc");
        assert_eq!(id, "a");
        assert_ne!(c1, c2, "same plaintext must give different ciphertexts");
        assert!(!c1.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.decrypt("a", &c1).expect("dec"), b"secret");
    }

    #[test]
    fn tampering_and_unknown_keys_fail() {
        let k = ring("a", 1);
        let (_, mut c) = k.encrypt(b"secret").expect("enc");
        let last = c.len() - 1;
        c[last] ^= 1;
        assert!(matches!(k.decrypt("a", &c), Err(CryptoError::Decrypt)));
        assert!(matches!(
            k.decrypt("b", &c),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_readable() {
        let old = ring("old", 1);
        let (id, c) = old.encrypt(b"token").expect("enc");
        let rotated = Keyring::from_keys(&[("new".into(), [2; 32]), ("old".into(), [1; 32])])
            .expect("keyring");
        assert_eq!(rotated.decrypt(&id, &c).expect("dec"), b"token");
        assert_eq!(rotated.encrypt(b"x").expect("enc").0, "new");
    }
}
