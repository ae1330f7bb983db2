//! Encrypted key files: a signing key's PKCS#8 bytes sealed with
//! AES-256-GCM under a key derived from a passphrase (PBKDF2-HMAC-SHA256).
//! The public half is stored in the clear so that tools can list and
//! check keys without the passphrase.
//!
//! ```json
//! {"algorithm": "ed25519", "bulwark-key-file": 1, "keyid": "…",
//!  "public": {<TUF key object>},
//!  "kdf": {"name": "pbkdf2-hmac-sha256", "iterations": 600000, "salt": "<hex>"},
//!  "cipher": {"name": "aes-256-gcm", "nonce": "<hex>", "ciphertext": "<hex>"}}
//! ```
//!
//! Neither the passphrase nor the key material ever appears in an error.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use bulwark_tuf::hex;
use bulwark_tuf::json::{self, Value};
use bulwark_tuf::keys::{Algorithm, SigningKey};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};

/// PBKDF2 iterations for new key files (OWASP's 2023 figure for HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// Why a key file could not be written or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Not a Bulwark key file, or a damaged one.
    #[error("not a valid key file: {0}")]
    Malformed(&'static str),
    /// The passphrase is wrong (or the file was tampered with).
    #[error("wrong passphrase, or the key file was modified")]
    WrongPassphrase,
    /// The system random generator failed.
    #[error("no randomness available")]
    Random,
    /// The decrypted key is not usable.
    #[error("the decrypted key is not usable")]
    Key(#[source] bulwark_tuf::keys::KeyError),
}

fn derive(passphrase: &[u8], salt: &[u8], iterations: NonZeroU32) -> LessSafeKey {
    let mut key = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        passphrase,
        &mut key,
    );
    // 32 bytes is exactly AES-256's key length, so this cannot fail.
    let unbound = UnboundKey::new(&AES_256_GCM, &key)
        .unwrap_or_else(|_| unreachable!("AES-256 key is 32 bytes"));
    key.fill(0);
    LessSafeKey::new(unbound)
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Ed25519 => "ed25519",
        Algorithm::EcdsaP256 => "ecdsa-p256",
        Algorithm::RsaPssSha256 => "rsa-pss-sha256",
    }
}

fn algorithm_from_name(name: &str) -> Option<Algorithm> {
    [
        Algorithm::Ed25519,
        Algorithm::EcdsaP256,
        Algorithm::RsaPssSha256,
    ]
    .into_iter()
    .find(|a| algorithm_name(*a) == name)
}

/// Seals `key` under `passphrase`, returning the key file's bytes.
pub fn seal(key: &SigningKey, passphrase: &[u8], iterations: u32) -> Result<Vec<u8>, KeyFileError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rng.fill(&mut salt).map_err(|_| KeyFileError::Random)?;
    rng.fill(&mut nonce).map_err(|_| KeyFileError::Random)?;
    let iterations_nz = NonZeroU32::new(iterations)
        .ok_or(KeyFileError::Malformed("iterations must be positive"))?;
    let sealing = derive(passphrase, &salt, iterations_nz);
    let mut ciphertext = key.to_pkcs8().to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(key.key_id().as_bytes()),
            &mut ciphertext,
        )
        .map_err(|_| KeyFileError::Random)?;
    let object = |pairs: Vec<(&str, Value)>| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    };
    let file = object(vec![
        ("bulwark-key-file", Value::Int(1)),
        ("algorithm", algorithm_name(key.algorithm()).into()),
        ("keyid", key.key_id().into()),
        ("public", key.public_key_object()),
        (
            "kdf",
            object(vec![
                ("name", "pbkdf2-hmac-sha256".into()),
                ("iterations", Value::Int(i64::from(iterations))),
                ("salt", hex::encode(&salt).into()),
            ]),
        ),
        (
            "cipher",
            object(vec![
                ("name", "aes-256-gcm".into()),
                ("nonce", hex::encode(&nonce).into()),
                ("ciphertext", hex::encode(&ciphertext).into()),
            ]),
        ),
    ]);
    let mut bytes = json::to_vec(&file);
    bytes.push(b'\n');
    Ok(bytes)
}

/// The public parts of a key file, readable without the passphrase.
#[derive(Clone, Debug)]
pub struct KeyFileInfo {
    /// The key ID.
    pub keyid: String,
    /// The TUF public key object.
    pub public: Value,
}

struct Parsed {
    info: KeyFileInfo,
    algorithm: Algorithm,
    iterations: NonZeroU32,
    salt: Vec<u8>,
    nonce: [u8; 12],
    ciphertext: Vec<u8>,
}

fn field<'a>(map: &'a BTreeMap<String, Value>, key: &str) -> Result<&'a Value, KeyFileError> {
    map.get(key).ok_or(KeyFileError::Malformed("missing field"))
}

fn text<'a>(map: &'a BTreeMap<String, Value>, key: &str) -> Result<&'a str, KeyFileError> {
    match field(map, key)? {
        Value::String(s) => Ok(s),
        _ => Err(KeyFileError::Malformed("a field has the wrong type")),
    }
}

fn object<'a>(
    map: &'a BTreeMap<String, Value>,
    key: &str,
) -> Result<&'a BTreeMap<String, Value>, KeyFileError> {
    match field(map, key)? {
        Value::Object(o) => Ok(o),
        _ => Err(KeyFileError::Malformed("a field has the wrong type")),
    }
}

fn hex_field(map: &BTreeMap<String, Value>, key: &str) -> Result<Vec<u8>, KeyFileError> {
    hex::decode(text(map, key)?).ok_or(KeyFileError::Malformed("a field is not hex"))
}

fn parse(bytes: &[u8]) -> Result<Parsed, KeyFileError> {
    let Ok(Value::Object(top)) = json::parse(bytes) else {
        return Err(KeyFileError::Malformed("not a JSON object"));
    };
    if field(&top, "bulwark-key-file")? != &Value::Int(1) {
        return Err(KeyFileError::Malformed("unknown key file version"));
    }
    let algorithm = algorithm_from_name(text(&top, "algorithm")?)
        .ok_or(KeyFileError::Malformed("unknown algorithm"))?;
    let keyid = text(&top, "keyid")?.to_owned();
    let public = field(&top, "public")?.clone();
    let kdf = object(&top, "kdf")?;
    let cipher = object(&top, "cipher")?;
    if text(kdf, "name")? != "pbkdf2-hmac-sha256" || text(cipher, "name")? != "aes-256-gcm" {
        return Err(KeyFileError::Malformed("unknown key derivation or cipher"));
    }
    let iterations = match field(kdf, "iterations")? {
        Value::Int(n) => u32::try_from(*n).ok().and_then(NonZeroU32::new),
        _ => None,
    }
    .ok_or(KeyFileError::Malformed("bad iteration count"))?;
    let nonce: [u8; 12] = hex_field(cipher, "nonce")?
        .try_into()
        .map_err(|_| KeyFileError::Malformed("bad nonce"))?;
    Ok(Parsed {
        info: KeyFileInfo { keyid, public },
        algorithm,
        iterations,
        salt: hex_field(kdf, "salt")?,
        nonce,
        ciphertext: hex_field(cipher, "ciphertext")?,
    })
}

/// Reads the public parts of a key file.
pub fn info(bytes: &[u8]) -> Result<KeyFileInfo, KeyFileError> {
    parse(bytes).map(|p| p.info)
}

/// Opens a key file with `passphrase`.
pub fn open(bytes: &[u8], passphrase: &[u8]) -> Result<SigningKey, KeyFileError> {
    let parsed = parse(bytes)?;
    let opening = derive(passphrase, &parsed.salt, parsed.iterations);
    let mut buffer = parsed.ciphertext;
    let plain = opening
        .open_in_place(
            Nonce::assume_unique_for_key(parsed.nonce),
            Aad::from(parsed.info.keyid.as_bytes()),
            &mut buffer,
        )
        .map_err(|_| KeyFileError::WrongPassphrase)?;
    let key = SigningKey::from_pkcs8(parsed.algorithm, plain).map_err(KeyFileError::Key);
    buffer.fill(0);
    let key = key?;
    if key.key_id() != parsed.info.keyid {
        return Err(KeyFileError::Malformed("the key does not match its key ID"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        for algorithm in [Algorithm::Ed25519, Algorithm::EcdsaP256] {
            let key = SigningKey::generate(algorithm).unwrap();
            let file = seal(&key, b"correct horse", 1_000).unwrap();
            assert_eq!(info(&file).unwrap().keyid, key.key_id());
            let opened = open(&file, b"correct horse").unwrap();
            assert_eq!(opened.key_id(), key.key_id());
            assert!(matches!(
                open(&file, b"wrong"),
                Err(KeyFileError::WrongPassphrase)
            ));
        }
    }

    #[test]
    fn key_material_never_appears_in_the_file_or_errors() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let file = seal(&key, b"pass", 1_000).unwrap();
        let secret = hex::encode(key.to_pkcs8());
        assert!(!String::from_utf8_lossy(&file).contains(&secret));
        let err = open(&file, b"bad").unwrap_err().to_string();
        assert!(!err.contains("bad") && !err.contains(&secret), "{err}");
    }

    #[test]
    fn tampering_is_detected() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let file = String::from_utf8(seal(&key, b"pass", 1_000).unwrap()).unwrap();
        let other = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let swapped_id = file.replace(&key.key_id(), &other.key_id());
        assert!(matches!(
            open(swapped_id.as_bytes(), b"pass"),
            Err(KeyFileError::WrongPassphrase)
        ));
        assert!(matches!(
            open(b"{}", b"pass"),
            Err(KeyFileError::Malformed(_))
        ));
        assert!(matches!(
            open(b"not json", b"pass"),
            Err(KeyFileError::Malformed(_))
        ));
    }
}
