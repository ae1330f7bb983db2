//! Public keys, private keys, key IDs and signatures, in the wire formats of
//! securesystemslib and python-tuf.
//!
//! | keytype | scheme | `keyval.public` | signature (hex) |
//! |---|---|---|---|
//! | `ed25519` | `ed25519` | the 32-byte key, hex | the 64-byte signature |
//! | `ecdsa` (legacy: `ecdsa-sha2-nistp256`) | `ecdsa-sha2-nistp256` | PEM `PUBLIC KEY`, P-256 | ASN.1 DER `(r, s)` |
//! | `rsa` | `rsassa-pss-sha256` | PEM `PUBLIC KEY` or `RSA PUBLIC KEY`, ≥ 2048 bits | PSS, MGF1-SHA-256, 32-byte salt |
//!
//! Any other keytype/scheme pair is not an error: [`PublicKey::from_parts`]
//! returns `Ok(None)`, so such a key is ignored and can never count towards a
//! threshold (TUF spec 1.0.34 §4.2 and §5).
//!
//! ```text
//!  key object ─ from_parts ─▶ PEM ─▶ SubjectPublicKeyInfo DER ─▶ ring's key bytes ─ verify ─▶ bool
//!  PKCS#8 DER ─ SigningKey ─▶ sign ─▶ hex signature
//!                           └▶ public_key_object ─▶ SubjectPublicKeyInfo DER ─▶ PEM
//! ```
//!
//! Public keys arrive in untrusted metadata, so the PEM and DER readers here
//! are strict (definite minimal lengths, exact algorithm identifiers, nothing
//! trailing) and never panic or index out of bounds on hostile input.
//! Signing keys come from the operator; *ring* parses those.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey,
};

use crate::canonical;
use crate::hex;
use crate::json::Value;

/// The smallest RSA modulus accepted anywhere, in bits.
const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus *ring* verifies with (`RSA_PSS_2048_8192_SHA256`).
const RSA_VERIFY_MAX_BITS: usize = 8192;
/// The largest RSA modulus *ring* signs with.
const RSA_SIGN_MAX_BITS: usize = 4096;
/// The longest signature any supported scheme produces (RSA-8192), in bytes.
/// Longer hex is refused before it is decoded.
const MAX_SIGNATURE_LEN: usize = RSA_VERIFY_MAX_BITS / 8;

/// A PKCS#8 v1 `PrivateKeyInfo` for Ed25519 up to the 32-byte seed (RFC 8410
/// §7): `SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING {
/// OCTET STRING seed } }`.
const ED25519_PKCS8_V1_PREFIX: &[u8] = &[
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

const PEM_PUBLIC_KEY: &str = "PUBLIC KEY";
const PEM_RSA_PUBLIC_KEY: &str = "RSA PUBLIC KEY";

/// Object identifiers, as the contents of a DER `OBJECT IDENTIFIER`.
mod oid {
    /// rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017).
    pub(super) const RSA_ENCRYPTION: &[u8] =
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480).
    pub(super) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// prime256v1 (secp256r1, NIST P-256), 1.2.840.10045.3.1.7 (RFC 5480).
    pub(super) const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
}

/// The `parameters` of rsaEncryption's `AlgorithmIdentifier`: `NULL`.
const RSA_PARAMETERS: &[u8] = &[der::TAG_NULL, 0x00];
/// The `parameters` of a P-256 id-ecPublicKey `AlgorithmIdentifier`: the
/// named curve, `OBJECT IDENTIFIER` prime256v1.
const P256_PARAMETERS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A signature algorithm this crate can verify and sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (keytype and scheme `ed25519`).
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256 (keytype `ecdsa`, scheme
    /// `ecdsa-sha2-nistp256`).
    EcdsaP256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (keytype
    /// `rsa`, scheme `rsassa-pss-sha256`).
    RsaPssSha256,
}

impl Algorithm {
    /// The `keytype` this crate writes for keys of this algorithm.
    #[must_use]
    pub const fn keytype(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa",
            Algorithm::RsaPssSha256 => "rsa",
        }
    }

    /// The `scheme` of keys of this algorithm.
    #[must_use]
    pub const fn scheme(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-sha2-nistp256",
            Algorithm::RsaPssSha256 => "rsassa-pss-sha256",
        }
    }

    /// The algorithm of a supported keytype/scheme pair.
    fn from_keytype_and_scheme(keytype: &str, scheme: &str) -> Option<Self> {
        match (keytype, scheme) {
            ("ed25519", "ed25519") => Some(Algorithm::Ed25519),
            // Older securesystemslib releases wrote the scheme as the keytype.
            ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256") => Some(Algorithm::EcdsaP256),
            ("rsa", "rsassa-pss-sha256") => Some(Algorithm::RsaPssSha256),
            _ => None,
        }
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Algorithm::Ed25519 => &signature::ED25519,
            Algorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            // ring's PSS verification requires the salt to be exactly as long
            // as the digest (32 bytes), which is what securesystemslib signs with.
            Algorithm::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

/// Why a key could not be built or used.
///
/// Messages never contain key material, public or private.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key object's `keyval` has no `public` member.
    #[error("keyval has no public key")]
    MissingPublicKey,
    /// `keyval.public` is not a string.
    #[error("keyval public key is a {found}, not a string")]
    PublicKeyNotString {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// An Ed25519 public key that is not 32 bytes written as 64 hex digits.
    #[error("ed25519 public key is not 64 hex digits")]
    InvalidEd25519PublicKey,
    /// PEM text that does not start with a `-----BEGIN <label>-----` line.
    #[error("public key PEM has no BEGIN line")]
    PemMissingBegin,
    /// PEM text that does not end with an `-----END <label>-----` line.
    #[error("public key PEM has no END line")]
    PemMissingEnd,
    /// The BEGIN and END lines name different labels.
    #[error("public key PEM BEGIN and END labels differ")]
    PemLabelMismatch,
    /// The PEM label is not one this key type is written with.
    #[error("public key PEM label is not {expected}")]
    PemUnexpectedLabel {
        /// The label, or labels, accepted.
        expected: &'static str,
    },
    /// The PEM body is not standard, padded base64.
    #[error("public key PEM body is not valid base64")]
    PemBase64,
    /// The DER inside the PEM is malformed.
    #[error("public key DER is malformed")]
    MalformedDer(#[from] DerError),
    /// The `SubjectPublicKeyInfo` names a different key algorithm than the
    /// keytype says.
    #[error("public key algorithm is not {expected}")]
    WrongKeyAlgorithm {
        /// The algorithm the keytype calls for.
        expected: &'static str,
    },
    /// An ECDSA key on a curve other than P-256, or with explicit curve
    /// parameters.
    #[error("ecdsa public key is not on the named curve P-256")]
    UnsupportedCurve,
    /// An ECDSA public key that is not a 65-byte uncompressed point.
    #[error("ecdsa public key is not an uncompressed P-256 point")]
    InvalidEcPoint,
    /// An RSA modulus shorter than 2048 bits.
    #[error("rsa modulus has {bits} bits, fewer than the 2048 required")]
    RsaKeyTooSmall {
        /// The modulus length in bits.
        bits: usize,
    },
    /// An RSA modulus longer than this crate can use (8192 bits to verify,
    /// 4096 to sign).
    #[error("rsa modulus has {bits} bits, more than the {max} supported")]
    RsaKeyTooLarge {
        /// The modulus length in bits.
        bits: usize,
        /// The longest modulus supported for this use.
        max: usize,
    },
    /// An RSA public exponent that is even, below 3 or at least 2^33, which
    /// *ring* cannot verify with.
    #[error("rsa public exponent is not an odd number from 3 to 2^33 - 1")]
    UnsupportedRsaExponent,
    /// Key generation for an algorithm *ring* cannot generate keys for (RSA).
    #[error("{algorithm} keys cannot be generated, import one with from_pkcs8")]
    CannotGenerate {
        /// The algorithm asked for.
        algorithm: Algorithm,
    },
    /// The system random number generator failed while generating a key.
    #[error("key generation failed")]
    KeyGeneration,
    /// The private key is not an unencrypted PKCS#8 key of the expected
    /// algorithm (or *ring* refuses it, e.g. an RSA modulus that is not 2048,
    /// 3072 or 4096 bits).
    #[error("private key is not a usable PKCS#8 {algorithm} key ({reason})")]
    InvalidPkcs8 {
        /// The algorithm the key was loaded as.
        algorithm: Algorithm,
        /// *ring*'s reason, a fixed word such as `InvalidEncoding`. (It is
        /// not a `#[source]`: this build of *ring* has no `std::error::Error`
        /// impl for it.)
        reason: ring::error::KeyRejected,
    },
    /// Signing failed (the system random number generator failed).
    #[error("signing failed")]
    Signing,
    /// Raw public key bytes of the wrong length or form for the algorithm
    /// (from [`PublicKey::from_raw`]).
    #[error("{algorithm} public key bytes are malformed")]
    InvalidRawPublicKey {
        /// The algorithm the bytes were read as.
        algorithm: Algorithm,
    },
    /// A fixed-size `r || s` ECDSA signature that is not 64 bytes.
    #[error("ecdsa signature is not 64 bytes of r and s")]
    InvalidFixedSignature,
    /// A [`Signer`](crate::signer::Signer) outside this crate (such as a
    /// hardware token) failed; the cause says why.
    #[error("the key's signer failed")]
    External(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What was wrong with DER from a public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DerError {
    /// The input ends inside an element.
    #[error("input ends inside an element")]
    Truncated,
    /// An element has a different tag than the structure requires.
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    UnexpectedTag {
        /// The tag required here.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// An indefinite length, which DER forbids.
    #[error("indefinite length")]
    IndefiniteLength,
    /// A length written with more bytes than needed.
    #[error("length is not minimally encoded")]
    NonMinimalLength,
    /// A length of more than four bytes; no public key is that large.
    #[error("length is too large")]
    LengthTooLarge,
    /// Bytes left over after the structure ends.
    #[error("unexpected data after the structure")]
    TrailingData,
    /// An `INTEGER` with no content bytes.
    #[error("empty integer")]
    EmptyInteger,
    /// An `INTEGER` with a redundant leading byte.
    #[error("integer is not minimally encoded")]
    NonMinimalInteger,
    /// A negative `INTEGER` where only positive ones make sense.
    #[error("integer is negative")]
    NegativeInteger,
    /// A `BIT STRING` with no content bytes.
    #[error("empty bit string")]
    EmptyBitString,
    /// A `BIT STRING` whose last byte is only partly used; keys are whole bytes.
    #[error("bit string has unused bits")]
    BitStringUnusedBits,
    /// A `NULL` with contents.
    #[error("null has contents")]
    NonEmptyNull,
}

/// A public key from TUF metadata that this crate can verify signatures with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: Algorithm,
    /// What *ring* verifies with: the 32-byte Ed25519 key, the 65-byte
    /// uncompressed P-256 point, or the PKCS#1 `RSAPublicKey` DER.
    ring_key: Vec<u8>,
}

impl PublicKey {
    /// Builds a key from a metadata key object's fields. `Ok(None)` when the
    /// keytype/scheme pair is not one we support (such keys are ignored, never
    /// trusted — TUF spec 1.0.34 §4.2 / §5); `Err` when the pair is supported
    /// but the key material is malformed.
    ///
    /// Members of `keyval` other than `public` are ignored.
    pub fn from_parts(
        keytype: &str,
        scheme: &str,
        keyval: &BTreeMap<String, Value>,
    ) -> Result<Option<PublicKey>, KeyError> {
        let Some(algorithm) = Algorithm::from_keytype_and_scheme(keytype, scheme) else {
            return Ok(None);
        };
        let public = match keyval.get("public") {
            Some(Value::String(public)) => public,
            Some(other) => {
                return Err(KeyError::PublicKeyNotString {
                    found: other.type_name(),
                });
            }
            None => return Err(KeyError::MissingPublicKey),
        };
        let ring_key = match algorithm {
            Algorithm::Ed25519 => match hex::decode(public) {
                Some(key) if key.len() == 32 => key,
                _ => return Err(KeyError::InvalidEd25519PublicKey),
            },
            Algorithm::EcdsaP256 => {
                let (_, spki) = pem_decode(public, &[PEM_PUBLIC_KEY], "PUBLIC KEY")?;
                p256_point_from_spki(&spki)?.to_vec()
            }
            Algorithm::RsaPssSha256 => {
                let (label, der) = pem_decode(
                    public,
                    &[PEM_PUBLIC_KEY, PEM_RSA_PUBLIC_KEY],
                    "PUBLIC KEY or RSA PUBLIC KEY",
                )?;
                let pkcs1 = if label == PEM_PUBLIC_KEY {
                    rsa_key_from_spki(&der)?.to_vec()
                } else {
                    der
                };
                check_rsa_public_key(&pkcs1, RSA_VERIFY_MAX_BITS)?;
                pkcs1
            }
        };
        Ok(Some(PublicKey {
            algorithm,
            ring_key,
        }))
    }

    /// A key from its raw material, as a hardware token reports it: the
    /// 32-byte Ed25519 key or the 65-byte uncompressed P-256 point. RSA keys
    /// are not built this way.
    pub fn from_raw(algorithm: Algorithm, material: &[u8]) -> Result<PublicKey, KeyError> {
        let valid = match algorithm {
            Algorithm::Ed25519 => material.len() == 32,
            Algorithm::EcdsaP256 => material.len() == 65 && material.first() == Some(&0x04),
            Algorithm::RsaPssSha256 => false,
        };
        if !valid {
            return Err(KeyError::InvalidRawPublicKey { algorithm });
        }
        Ok(PublicKey {
            algorithm,
            ring_key: material.to_vec(),
        })
    }

    /// The key object as it goes into metadata:
    /// `{"keytype", "scheme", "keyval": {"public": …}}`, with PEM written
    /// exactly as Python's `cryptography` writes it.
    #[must_use]
    pub fn key_object(&self) -> Value {
        let public = match self.algorithm {
            Algorithm::Ed25519 => hex::encode(&self.ring_key),
            Algorithm::EcdsaP256 => pem_encode(
                PEM_PUBLIC_KEY,
                &der::spki(oid::EC_PUBLIC_KEY, P256_PARAMETERS, &self.ring_key),
            ),
            Algorithm::RsaPssSha256 => pem_encode(
                PEM_PUBLIC_KEY,
                &der::spki(oid::RSA_ENCRYPTION, RSA_PARAMETERS, &self.ring_key),
            ),
        };
        let keyval = BTreeMap::from([("public".to_owned(), Value::String(public))]);
        Value::Object(BTreeMap::from([
            ("keytype".to_owned(), Value::from(self.algorithm.keytype())),
            ("scheme".to_owned(), Value::from(self.algorithm.scheme())),
            ("keyval".to_owned(), Value::Object(keyval)),
        ]))
    }

    /// True when `signature_hex` is a valid signature by this key over
    /// `message`. Malformed hex or DER is simply `false`, never a panic.
    ///
    /// Hex digits may be upper- or lowercase, as Python's `bytes.fromhex`
    /// allows.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature_hex: &str) -> bool {
        if signature_hex.len() > 2 * MAX_SIGNATURE_LEN {
            return false;
        }
        let Some(signature) = hex::decode(signature_hex) else {
            return false;
        };
        UnparsedPublicKey::new(self.algorithm.verification(), &self.ring_key)
            .verify(message, &signature)
            .is_ok()
    }

    /// The key's signature scheme, as written in metadata.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        self.algorithm.scheme()
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key in one canonical encoding: the 32-byte Ed25519 key, the
    /// 65-byte uncompressed P-256 point, or the PKCS#1 `RSAPublicKey` DER.
    ///
    /// Because the DER reader accepts only minimal encodings, the same key
    /// gives the same bytes however its key object was written (hex case, PEM
    /// line breaks, SPKI or PKCS#1 PEM, legacy keytype), so a threshold can
    /// count distinct keys rather than distinct key IDs.
    #[must_use]
    pub fn material(&self) -> &[u8] {
        &self.ring_key
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("key", &hex::encode(&self.ring_key))
            .finish()
    }
}

/// The key ID TUF uses: lowercase hex SHA-256 of the canonical JSON of the
/// whole key object (spec §4.2 "KEYID").
#[must_use]
pub fn key_id(key_object: &Value) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, &canonical::to_vec(key_object));
    hex::encode(digest.as_ref())
}

/// A private key that can sign metadata (used by repository code and test
/// simulators).
///
/// Its `Debug` output shows only the algorithm and key ID.
pub struct SigningKey {
    algorithm: Algorithm,
    /// The PKCS#8 document the key was loaded from; zeroed on drop.
    pkcs8: Vec<u8>,
    pair: KeyPair,
}

/// A parsed *ring* key pair.
enum KeyPair {
    Ed25519(Ed25519KeyPair),
    EcdsaP256(EcdsaKeyPair),
    RsaPssSha256(RsaKeyPair),
}

impl SigningKey {
    /// Generates a fresh key (Ed25519 or ECDSA P-256, from the system random
    /// number generator). RSA cannot be generated by *ring*: that is
    /// [`KeyError::CannotGenerate`].
    pub fn generate(algorithm: Algorithm) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        match algorithm {
            Algorithm::Ed25519 => {
                // ring's own generate_pkcs8 writes PKCS#8 v2, which OpenSSL 3.0
                // and Python's `cryptography` cannot read. An Ed25519 private
                // key is just a random 32-byte seed (RFC 8032 §5.1.5), so write
                // the v1 document they do read.
                let mut seed = [0u8; 32];
                rng.fill(&mut seed).map_err(|_| KeyError::KeyGeneration)?;
                let mut pkcs8 = Vec::with_capacity(ED25519_PKCS8_V1_PREFIX.len() + seed.len());
                pkcs8.extend_from_slice(ED25519_PKCS8_V1_PREFIX);
                pkcs8.extend_from_slice(&seed);
                seed.fill(0);
                std::hint::black_box(&seed);
                let key = SigningKey::from_pkcs8(algorithm, &pkcs8);
                pkcs8.fill(0);
                std::hint::black_box(&pkcs8);
                key
            }
            Algorithm::EcdsaP256 => {
                let document =
                    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                        .map_err(|_| KeyError::KeyGeneration)?;
                SigningKey::from_pkcs8(algorithm, document.as_ref())
            }
            Algorithm::RsaPssSha256 => Err(KeyError::CannotGenerate { algorithm }),
        }
    }

    /// Loads an unencrypted PKCS#8 DER private key.
    ///
    /// Ed25519 keys may be PKCS#8 v1 (as `openssl genpkey` and Python's
    /// `cryptography` write them) or v2; a v2 key's public key must match its
    /// private key. RSA keys must have a 2048-, 3072- or 4096-bit modulus
    /// (*ring* signs with nothing else) and a public exponent of at least 65537.
    pub fn from_pkcs8(algorithm: Algorithm, der: &[u8]) -> Result<SigningKey, KeyError> {
        let rejected = |reason| KeyError::InvalidPkcs8 { algorithm, reason };
        let pair = match algorithm {
            Algorithm::Ed25519 => {
                KeyPair::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?)
            }
            Algorithm::EcdsaP256 => KeyPair::EcdsaP256(
                EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    der,
                    &SystemRandom::new(),
                )
                .map_err(rejected)?,
            ),
            Algorithm::RsaPssSha256 => {
                // Look at the modulus first, so that a small key gets the
                // specific error rather than ring's generic rejection.
                if let Some(bits) = rsa_pkcs8_modulus_bits(der) {
                    check_rsa_modulus_bits(bits, RSA_SIGN_MAX_BITS)?;
                }
                let pair = RsaKeyPair::from_pkcs8(der).map_err(rejected)?;
                // ring itself accepts moduli from 2041 bits (it rounds up to bytes).
                check_rsa_public_key(pair.public().as_ref(), RSA_SIGN_MAX_BITS)?;
                KeyPair::RsaPssSha256(pair)
            }
        };
        Ok(SigningKey {
            algorithm,
            pkcs8: der.to_vec(),
            pair,
        })
    }

    /// The PKCS#8 DER bytes (for storing in an encrypted key file later).
    #[must_use]
    pub fn to_pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key object as it goes into metadata:
    /// `{"keytype", "scheme", "keyval": {"public": …}}`, with PEM written
    /// exactly as Python's `cryptography` writes it.
    #[must_use]
    pub fn public_key_object(&self) -> Value {
        self.public_key().key_object()
    }

    /// The public half, ready to verify with.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        let ring_key = match &self.pair {
            KeyPair::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
            KeyPair::EcdsaP256(pair) => pair.public_key().as_ref().to_vec(),
            KeyPair::RsaPssSha256(pair) => pair.public().as_ref().to_vec(),
        };
        PublicKey {
            algorithm: self.algorithm,
            ring_key,
        }
    }

    /// The key ID of [`SigningKey::public_key_object`].
    #[must_use]
    pub fn key_id(&self) -> String {
        key_id(&self.public_key_object())
    }

    /// Signs `message`, returning the signature as lowercase hex in the
    /// scheme's wire format.
    pub fn sign(&self, message: &[u8]) -> Result<String, KeyError> {
        let rng = SystemRandom::new();
        let signature = match &self.pair {
            KeyPair::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
            KeyPair::EcdsaP256(pair) => pair
                .sign(&rng, message)
                .map_err(|_| KeyError::Signing)?
                .as_ref()
                .to_vec(),
            KeyPair::RsaPssSha256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PSS_SHA256, &rng, message, &mut signature)
                    .map_err(|_| KeyError::Signing)?;
                signature
            }
        };
        Ok(hex::encode(&signature))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        // Best effort without `unsafe` or a zeroize dependency: black_box
        // keeps the compiler from proving the writes dead.
        self.pkcs8.fill(0);
        std::hint::black_box(&self.pkcs8);
    }
}

/// An ECDSA signature as `ecdsa-sha2-nistp256` writes it (ASN.1 DER
/// `SEQUENCE { r INTEGER, s INTEGER }`, lowercase hex) from the fixed-size
/// `r || s` form (32 bytes each) that PKCS#11 `CKM_ECDSA` returns.
pub fn ecdsa_p256_signature_from_fixed(fixed: &[u8]) -> Result<String, KeyError> {
    if fixed.len() != 64 {
        return Err(KeyError::InvalidFixedSignature);
    }
    let (r, s) = fixed.split_at(32);
    let mut body = Vec::with_capacity(72);
    for half in [r, s] {
        // A minimal, positive INTEGER: no leading zero bytes, then one zero
        // byte back when the top bit is set.
        let magnitude = match half.iter().position(|&b| b != 0) {
            Some(first) => &half[first..],
            None => &half[31..],
        };
        let mut integer = Vec::with_capacity(33);
        if magnitude.first().is_some_and(|&b| b >= 0x80) {
            integer.push(0);
        }
        integer.extend_from_slice(magnitude);
        der::write(der::TAG_INTEGER, &integer, &mut body);
    }
    let mut out = Vec::with_capacity(body.len() + 2);
    der::write(der::TAG_SEQUENCE, &body, &mut out);
    Ok(hex::encode(&out))
}

/// Decodes one PEM block whose label is in `accepted`, returning the label
/// and the DER. Whitespace around the block and around each line is ignored,
/// so `\r\n` line ends are fine; PEM headers are not accepted.
fn pem_decode(
    text: &str,
    accepted: &[&'static str],
    expected: &'static str,
) -> Result<(&'static str, Vec<u8>), KeyError> {
    let mut lines = text.trim().lines().map(str::trim);
    let begin = lines
        .next()
        .and_then(|line| line.strip_prefix("-----BEGIN "))
        .and_then(|line| line.strip_suffix("-----"))
        .ok_or(KeyError::PemMissingBegin)?;
    let end = lines
        .next_back()
        .and_then(|line| line.strip_prefix("-----END "))
        .and_then(|line| line.strip_suffix("-----"))
        .ok_or(KeyError::PemMissingEnd)?;
    if begin != end {
        return Err(KeyError::PemLabelMismatch);
    }
    let label = accepted
        .iter()
        .copied()
        .find(|&label| label == begin)
        .ok_or(KeyError::PemUnexpectedLabel { expected })?;
    let body: String = lines.collect();
    let der = BASE64.decode(body).map_err(|_| KeyError::PemBase64)?;
    Ok((label, der))
}

/// Encodes DER as PEM the way OpenSSL (and so Python's `cryptography`) does:
/// 64 base64 characters a line, every line ending in `\n`.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 32);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(64) {
        out.extend(line.iter().copied().map(char::from));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The uncompressed point inside a P-256 `SubjectPublicKeyInfo`.
fn p256_point_from_spki(der: &[u8]) -> Result<&[u8], KeyError> {
    let spki = der::Spki::parse(der)?;
    if spki.algorithm != oid::EC_PUBLIC_KEY {
        return Err(KeyError::WrongKeyAlgorithm {
            expected: "id-ecPublicKey",
        });
    }
    // RFC 5480: the parameters are a namedCurve OID. Explicit curve
    // parameters (a SEQUENCE) and implicitCA (NULL) are refused.
    let mut parameters = der::Reader::new(spki.parameters);
    match parameters.read(der::TAG_OID) {
        Ok(curve) if curve == oid::PRIME256V1 && parameters.is_empty() => {}
        _ => return Err(KeyError::UnsupportedCurve),
    }
    match spki.public_key {
        // SEC 1 §2.3.3: 0x04, then x and y, 32 bytes each.
        point @ [0x04, ..] if point.len() == 65 => Ok(point),
        _ => Err(KeyError::InvalidEcPoint),
    }
}

/// The PKCS#1 `RSAPublicKey` inside an rsaEncryption `SubjectPublicKeyInfo`.
fn rsa_key_from_spki(der: &[u8]) -> Result<&[u8], KeyError> {
    let spki = der::Spki::parse(der)?;
    if spki.algorithm != oid::RSA_ENCRYPTION {
        return Err(KeyError::WrongKeyAlgorithm {
            expected: "rsaEncryption",
        });
    }
    // RFC 8017 A.1: the parameters MUST be NULL.
    let mut parameters = der::Reader::new(spki.parameters);
    if !parameters.read(der::TAG_NULL)?.is_empty() {
        return Err(DerError::NonEmptyNull.into());
    }
    parameters.finish()?;
    Ok(spki.public_key)
}

/// Checks a PKCS#1 `RSAPublicKey` (RFC 8017 A.1.1):
/// `SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn check_rsa_public_key(pkcs1: &[u8], max_bits: usize) -> Result<(), KeyError> {
    let mut outer = der::Reader::new(pkcs1);
    let mut key = der::Reader::new(outer.read(der::TAG_SEQUENCE)?);
    outer.finish()?;
    let modulus = key.read_unsigned_integer()?;
    let exponent = key.read_unsigned_integer()?;
    key.finish()?;
    check_rsa_modulus_bits(der::bit_length(modulus), max_bits)?;
    // ring verifies with exponents 3 ..= 2^33 - 1; an even one is never valid.
    let value = match exponent {
        [.., last] if exponent.len() <= 5 && last % 2 == 1 => exponent
            .iter()
            .fold(0u64, |value, &byte| (value << 8) | u64::from(byte)),
        _ => return Err(KeyError::UnsupportedRsaExponent),
    };
    if !(3..1 << 33).contains(&value) {
        return Err(KeyError::UnsupportedRsaExponent);
    }
    Ok(())
}

fn check_rsa_modulus_bits(bits: usize, max_bits: usize) -> Result<(), KeyError> {
    if bits < RSA_MIN_BITS {
        Err(KeyError::RsaKeyTooSmall { bits })
    } else if bits > max_bits {
        Err(KeyError::RsaKeyTooLarge {
            bits,
            max: max_bits,
        })
    } else {
        Ok(())
    }
}

/// The modulus length of an RSA PKCS#8 private key, or `None` when the DER
/// is not the expected shape (ring then refuses it with its own reason).
///
/// `PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING
/// { RSAPrivateKey ::= SEQUENCE { version, modulus, … } }, … }` (RFC 5958,
/// RFC 8017 A.1.2).
fn rsa_pkcs8_modulus_bits(pkcs8: &[u8]) -> Option<usize> {
    let mut info = der::Reader::new(der::Reader::new(pkcs8).read(der::TAG_SEQUENCE).ok()?);
    info.read(der::TAG_INTEGER).ok()?;
    let mut algorithm = der::Reader::new(info.read(der::TAG_SEQUENCE).ok()?);
    if algorithm.read(der::TAG_OID).ok()? != oid::RSA_ENCRYPTION {
        return None;
    }
    let private_key = info.read(der::TAG_OCTET_STRING).ok()?;
    let mut rsa = der::Reader::new(der::Reader::new(private_key).read(der::TAG_SEQUENCE).ok()?);
    rsa.read(der::TAG_INTEGER).ok()?;
    Some(der::bit_length(rsa.read_unsigned_integer().ok()?))
}

/// A strict reader and a minimal writer for the little DER that public keys
/// need (X.690 §10: definite, minimal lengths).
mod der {
    use super::DerError;

    pub(super) const TAG_INTEGER: u8 = 0x02;
    pub(super) const TAG_BIT_STRING: u8 = 0x03;
    pub(super) const TAG_OCTET_STRING: u8 = 0x04;
    pub(super) const TAG_NULL: u8 = 0x05;
    pub(super) const TAG_OID: u8 = 0x06;
    pub(super) const TAG_SEQUENCE: u8 = 0x30;

    /// Reads elements one after another from a byte slice. Every read either
    /// returns a sub-slice of the input or an error; nothing indexes.
    pub(super) struct Reader<'a> {
        rest: &'a [u8],
    }

    impl<'a> Reader<'a> {
        pub(super) fn new(input: &'a [u8]) -> Self {
            Reader { rest: input }
        }

        /// Reads one element with tag `tag`, returning its contents.
        pub(super) fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
            let (&found, rest) = self.rest.split_first().ok_or(DerError::Truncated)?;
            if found != tag {
                return Err(DerError::UnexpectedTag {
                    expected: tag,
                    found,
                });
            }
            let (len, rest) = read_length(rest)?;
            let (contents, rest) = rest.split_at_checked(len).ok_or(DerError::Truncated)?;
            self.rest = rest;
            Ok(contents)
        }

        /// Reads a non-negative `INTEGER`, returning its big-endian magnitude
        /// without the sign byte (empty for zero).
        pub(super) fn read_unsigned_integer(&mut self) -> Result<&'a [u8], DerError> {
            match self.read(TAG_INTEGER)? {
                [] => Err(DerError::EmptyInteger),
                [0x00, next, ..] if *next < 0x80 => Err(DerError::NonMinimalInteger),
                [0xff, next, ..] if *next >= 0x80 => Err(DerError::NonMinimalInteger),
                [first, ..] if *first >= 0x80 => Err(DerError::NegativeInteger),
                // Drop the sign byte of a positive integer whose top bit is set.
                [0x00, magnitude @ ..] | magnitude => Ok(magnitude),
            }
        }

        /// Reads a `BIT STRING` of whole bytes, returning those bytes.
        pub(super) fn read_bit_string(&mut self) -> Result<&'a [u8], DerError> {
            match self.read(TAG_BIT_STRING)? {
                [] => Err(DerError::EmptyBitString),
                [0, bytes @ ..] => Ok(bytes),
                [_, ..] => Err(DerError::BitStringUnusedBits),
            }
        }

        pub(super) fn is_empty(&self) -> bool {
            self.rest.is_empty()
        }

        /// Succeeds when nothing is left to read.
        pub(super) fn finish(&self) -> Result<(), DerError> {
            if self.rest.is_empty() {
                Ok(())
            } else {
                Err(DerError::TrailingData)
            }
        }

        /// The bytes not yet read.
        pub(super) fn rest(&self) -> &'a [u8] {
            self.rest
        }
    }

    /// Reads a definite, minimally encoded length.
    fn read_length(input: &[u8]) -> Result<(usize, &[u8]), DerError> {
        let (&first, rest) = input.split_first().ok_or(DerError::Truncated)?;
        if first < 0x80 {
            return Ok((usize::from(first), rest));
        }
        let count = usize::from(first & 0x7f);
        if count == 0 {
            return Err(DerError::IndefiniteLength);
        }
        if count > 4 {
            return Err(DerError::LengthTooLarge);
        }
        let (bytes, rest) = rest.split_at_checked(count).ok_or(DerError::Truncated)?;
        if bytes.first() == Some(&0) {
            return Err(DerError::NonMinimalLength);
        }
        let len = bytes
            .iter()
            .fold(0u64, |len, &byte| (len << 8) | u64::from(byte));
        if len < 0x80 {
            return Err(DerError::NonMinimalLength);
        }
        // A length that does not even fit in memory is certainly truncated.
        let len = usize::try_from(len).map_err(|_| DerError::Truncated)?;
        Ok((len, rest))
    }

    /// The length in bits of a big-endian unsigned magnitude.
    pub(super) fn bit_length(magnitude: &[u8]) -> usize {
        let mut significant = magnitude.iter().skip_while(|&&byte| byte == 0);
        let Some(&top) = significant.next() else {
            return 0;
        };
        let mut top_bits = 0;
        let mut remaining = top;
        while remaining != 0 {
            top_bits += 1;
            remaining >>= 1;
        }
        significant
            .count()
            .saturating_mul(8)
            .saturating_add(top_bits)
    }

    /// A `SubjectPublicKeyInfo` (RFC 5280 §4.1):
    /// `SEQUENCE { SEQUENCE { algorithm OID, parameters ANY }, BIT STRING }`.
    pub(super) struct Spki<'a> {
        /// The algorithm OID's contents.
        pub(super) algorithm: &'a [u8],
        /// The parameters, still DER-encoded (possibly empty).
        pub(super) parameters: &'a [u8],
        /// The key bytes inside the bit string.
        pub(super) public_key: &'a [u8],
    }

    impl<'a> Spki<'a> {
        pub(super) fn parse(input: &'a [u8]) -> Result<Self, DerError> {
            let mut outer = Reader::new(input);
            let mut spki = Reader::new(outer.read(TAG_SEQUENCE)?);
            outer.finish()?;
            let mut algorithm_id = Reader::new(spki.read(TAG_SEQUENCE)?);
            let algorithm = algorithm_id.read(TAG_OID)?;
            let public_key = spki.read_bit_string()?;
            spki.finish()?;
            Ok(Spki {
                algorithm,
                parameters: algorithm_id.rest(),
                public_key,
            })
        }
    }

    /// Appends one element.
    pub(super) fn write(tag: u8, contents: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        match u8::try_from(contents.len()) {
            Ok(short) if short < 0x80 => out.push(short),
            _ => {
                let len = contents.len().to_be_bytes();
                let significant: Vec<u8> = len.iter().copied().skip_while(|&b| b == 0).collect();
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "a usize has at most 16 bytes"
                )]
                out.push(0x80 | significant.len() as u8);
                out.extend_from_slice(&significant);
            }
        }
        out.extend_from_slice(contents);
    }

    /// Builds a `SubjectPublicKeyInfo` from an algorithm OID, its encoded
    /// parameters and the key bytes.
    pub(super) fn spki(algorithm: &[u8], parameters: &[u8], public_key: &[u8]) -> Vec<u8> {
        let mut algorithm_id = Vec::with_capacity(algorithm.len() + parameters.len() + 2);
        write(TAG_OID, algorithm, &mut algorithm_id);
        algorithm_id.extend_from_slice(parameters);
        let mut bits = Vec::with_capacity(public_key.len() + 1);
        bits.push(0);
        bits.extend_from_slice(public_key);
        let mut body = Vec::with_capacity(algorithm_id.len() + bits.len() + 8);
        write(TAG_SEQUENCE, &algorithm_id, &mut body);
        write(TAG_BIT_STRING, &bits, &mut body);
        let mut out = Vec::with_capacity(body.len() + 4);
        write(TAG_SEQUENCE, &body, &mut out);
        out
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test should stop at the first surprise"
)]
mod tests {
    use std::process::{Command, Output};
    use std::sync::OnceLock;

    use super::*;

    /// RFC 8032 §7.1, test 1: secret key, public key, and the signature of the
    /// empty message.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC8032_EMPTY_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    /// `hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"))
    /// .encode()).hexdigest()` for `obj = {"keytype": "ed25519", "scheme":
    /// "ed25519", "keyval": {"public": RFC8032_PUBLIC}}`, computed with Python.
    const RFC8032_KEY_ID: &str = "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916";

    const MESSAGE: &[u8] = b"{\"_type\":\"timestamp\",\"version\":1}";

    fn keyval(public: &str) -> BTreeMap<String, Value> {
        BTreeMap::from([("public".to_owned(), Value::from(public))])
    }

    /// `from_parts` on the members of a key object.
    fn from_object(object: &Value) -> Result<Option<PublicKey>, KeyError> {
        let Value::Object(members) = object else {
            panic!("key object is not an object");
        };
        let text = |name: &str| match members.get(name) {
            Some(Value::String(s)) => s.clone(),
            other => panic!("{name} is {other:?}"),
        };
        let Some(Value::Object(keyval)) = members.get("keyval") else {
            panic!("keyval is not an object");
        };
        PublicKey::from_parts(&text("keytype"), &text("scheme"), keyval)
    }

    fn public_pem(key: &SigningKey) -> String {
        let Value::Object(members) = key.public_key_object() else {
            panic!("not an object");
        };
        match members.get("keyval") {
            Some(Value::Object(keyval)) => match keyval.get("public") {
                Some(Value::String(pem)) => pem.clone(),
                other => panic!("public is {other:?}"),
            },
            other => panic!("keyval is {other:?}"),
        }
    }

    fn rfc8032_pkcs8() -> Vec<u8> {
        let mut der = ED25519_PKCS8_V1_PREFIX.to_vec();
        der.extend(hex::decode(RFC8032_SEED).unwrap());
        der
    }

    fn flip_last_bit(signature_hex: &str) -> String {
        let mut bytes = hex::decode(signature_hex).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        hex::encode(&bytes)
    }

    fn ecdsa_spki() -> Vec<u8> {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        der::spki(
            oid::EC_PUBLIC_KEY,
            P256_PARAMETERS,
            key.public_key().ring_key.as_slice(),
        )
    }

    fn rsa_spki() -> Vec<u8> {
        let key = SigningKey::from_pkcs8(Algorithm::RsaPssSha256, &rsa_2048().pkcs8).unwrap();
        der::spki(
            oid::RSA_ENCRYPTION,
            RSA_PARAMETERS,
            key.public_key().ring_key.as_slice(),
        )
    }

    /// A hand-built PKCS#1 `RSAPublicKey` with a modulus of `bits` bits (all
    /// ones) and the given exponent.
    fn pkcs1_rsa_public_key(bits: usize, exponent: &[u8]) -> Vec<u8> {
        let mut modulus = vec![0xff; bits.div_ceil(8)];
        if !bits.is_multiple_of(8) {
            modulus[0] = 0xff >> (8 - bits % 8);
        }
        // A leading zero only when the top bit is set: DER integers are minimal.
        let mut n = if modulus[0] >= 0x80 {
            vec![0x00]
        } else {
            vec![]
        };
        n.extend(modulus);
        let mut body = Vec::new();
        der::write(der::TAG_INTEGER, &n, &mut body);
        der::write(der::TAG_INTEGER, exponent, &mut body);
        let mut out = Vec::new();
        der::write(der::TAG_SEQUENCE, &body, &mut out);
        out
    }

    fn assert_message_style(error: &KeyError) {
        let message = error.to_string();
        assert!(
            message.starts_with(|c: char| !c.is_uppercase()),
            "{message}"
        );
        assert!(!message.ends_with('.'), "{message}");
    }

    // ---- openssl, the foreign implementation -------------------------------

    /// A scratch directory in which `openssl` runs.
    struct OpenSsl {
        dir: tempfile::TempDir,
    }

    impl OpenSsl {
        fn new() -> Self {
            OpenSsl {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn run(&self, args: &[&str]) -> Output {
            Command::new("openssl")
                .args(args)
                .current_dir(self.dir.path())
                .output()
                .expect("the interop tests need the openssl command")
        }

        fn ok(&self, args: &[&str]) -> Vec<u8> {
            let output = self.run(args);
            assert!(
                output.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            output.stdout
        }

        fn path(&self, name: &str) -> std::path::PathBuf {
            self.dir.path().join(name)
        }

        fn write(&self, name: &str, bytes: &[u8]) {
            std::fs::write(self.path(name), bytes).unwrap();
        }

        fn read(&self, name: &str) -> Vec<u8> {
            std::fs::read(self.path(name)).unwrap()
        }

        fn read_text(&self, name: &str) -> String {
            String::from_utf8(self.read(name)).unwrap()
        }

        /// Generates `key.pem` with `genpkey_args`, and writes its PKCS#8 DER
        /// to `key.der` and its public key to `pub.pem`.
        fn generate(&self, genpkey_args: &[&str]) {
            let mut args = vec!["genpkey", "-out", "key.pem"];
            args.extend_from_slice(genpkey_args);
            self.ok(&args);
            // `genpkey -outform DER` writes the traditional (PKCS#1, SEC 1)
            // form for RSA and EC; only `pkcs8 -topk8` writes PKCS#8.
            self.ok(&[
                "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out",
                "key.der",
            ]);
            self.ok(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
        }
    }

    /// An RSA key made by openssl: its PKCS#8 DER and its public key PEM.
    struct RsaTestKey {
        pkcs8: Vec<u8>,
        public_pem: String,
    }

    fn openssl_rsa(bits: u32) -> RsaTestKey {
        let openssl = OpenSsl::new();
        openssl.generate(&[
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
        ]);
        RsaTestKey {
            pkcs8: openssl.read("key.der"),
            public_pem: openssl.read_text("pub.pem"),
        }
    }

    fn rsa_2048() -> &'static RsaTestKey {
        static KEY: OnceLock<RsaTestKey> = OnceLock::new();
        KEY.get_or_init(|| openssl_rsa(2048))
    }

    fn rsa_1024() -> &'static RsaTestKey {
        static KEY: OnceLock<RsaTestKey> = OnceLock::new();
        KEY.get_or_init(|| openssl_rsa(1024))
    }

    // ---- key IDs and known answers -----------------------------------------

    #[test]
    fn key_id_is_sha256_of_canonical_key_object() {
        let object = Value::Object(BTreeMap::from([
            ("keytype".to_owned(), Value::from("ed25519")),
            ("scheme".to_owned(), Value::from("ed25519")),
            ("keyval".to_owned(), Value::Object(keyval(RFC8032_PUBLIC))),
        ]));
        assert_eq!(key_id(&object), RFC8032_KEY_ID);
    }

    #[test]
    fn ed25519_matches_rfc8032_test_vector() {
        let key = SigningKey::from_pkcs8(Algorithm::Ed25519, &rfc8032_pkcs8()).unwrap();
        assert_eq!(key.key_id(), RFC8032_KEY_ID);
        assert_eq!(key.sign(b"").unwrap(), RFC8032_EMPTY_SIGNATURE);
        let public = PublicKey::from_parts("ed25519", "ed25519", &keyval(RFC8032_PUBLIC))
            .unwrap()
            .unwrap();
        assert!(public.verify(b"", RFC8032_EMPTY_SIGNATURE));
        assert!(public.verify(b"", &RFC8032_EMPTY_SIGNATURE.to_ascii_uppercase()));
        assert!(!public.verify(b"x", RFC8032_EMPTY_SIGNATURE));
        assert_eq!(public, key.public_key());
    }

    // ---- round trips --------------------------------------------------------

    fn assert_round_trip(key: &SigningKey) {
        let object = key.public_key_object();
        let public = from_object(&object).unwrap().unwrap();
        assert_eq!(public, key.public_key());
        assert_eq!(public.scheme(), key.algorithm().scheme());
        assert_eq!(key.key_id(), key_id(&object));

        let signature = key.sign(MESSAGE).unwrap();
        assert!(!signature.bytes().any(|c| c.is_ascii_uppercase()));
        assert!(public.verify(MESSAGE, &signature));

        let mut altered = MESSAGE.to_vec();
        altered[3] ^= 0x20;
        assert!(!public.verify(&altered, &signature));
        assert!(!public.verify(MESSAGE, &flip_last_bit(&signature)));

        // The PKCS#8 bytes load back into the same key.
        let reloaded = SigningKey::from_pkcs8(key.algorithm(), key.to_pkcs8()).unwrap();
        assert_eq!(reloaded.key_id(), key.key_id());
        assert!(public.verify(MESSAGE, &reloaded.sign(MESSAGE).unwrap()));
    }

    #[test]
    fn ed25519_sign_verify_round_trip() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        assert_eq!(key.public_key().ring_key.len(), 32);
        assert_round_trip(&key);
    }

    #[test]
    fn ecdsa_sign_verify_round_trip() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        assert_round_trip(&key);
        let Value::Object(object) = key.public_key_object() else {
            panic!()
        };
        assert_eq!(object.get("keytype"), Some(&Value::from("ecdsa")));
    }

    #[test]
    fn rsa_sign_verify_round_trip() {
        let key = SigningKey::from_pkcs8(Algorithm::RsaPssSha256, &rsa_2048().pkcs8).unwrap();
        assert_eq!(key.sign(MESSAGE).unwrap().len(), 2 * 256);
        assert_round_trip(&key);
    }

    #[test]
    fn signatures_do_not_cross_keys() {
        let one = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let two = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let ecdsa = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let signature = one.sign(MESSAGE).unwrap();
        assert!(one.public_key().verify(MESSAGE, &signature));
        assert!(!two.public_key().verify(MESSAGE, &signature));
        assert!(!ecdsa.public_key().verify(MESSAGE, &signature));
    }

    // ---- malformed signatures ----------------------------------------------

    #[test]
    fn malformed_signatures_are_false_not_panics() {
        let keys = [
            SigningKey::generate(Algorithm::Ed25519).unwrap(),
            SigningKey::generate(Algorithm::EcdsaP256).unwrap(),
            SigningKey::from_pkcs8(Algorithm::RsaPssSha256, &rsa_2048().pkcs8).unwrap(),
        ];
        for key in &keys {
            let public = key.public_key();
            let good = key.sign(MESSAGE).unwrap();
            assert!(public.verify(MESSAGE, &good));
            let wrong: Vec<String> = vec![
                String::new(),
                "00".to_owned(),
                "zz".repeat(64),
                format!("{good}0"),
                format!("{good}00"),
                format!("00{good}"),
                good[..good.len() - 2].to_owned(),
                good[..good.len() / 2].to_owned(),
                format!("{}g", &good[..good.len() - 1]),
                format!(" {}", &good[1..]),
                "0".repeat(good.len()),
                "f".repeat(good.len()),
                "a".repeat(100_000),
                "é".repeat(good.len() / 2),
            ];
            for signature in &wrong {
                assert!(
                    !public.verify(MESSAGE, signature),
                    "{:?} accepted {signature:?}",
                    key.algorithm()
                );
            }
        }
    }

    // ---- keytype/scheme pairs ----------------------------------------------

    #[test]
    fn unsupported_keytype_or_scheme_is_ignored() {
        // Even with key material that would be malformed for a supported pair.
        for (keytype, scheme) in [
            ("rsa", "rsa-pkcs1v15-sha256"),
            ("rsa", "rsassa-pss-sha384"),
            ("rsa", "ed25519"),
            ("ecdsa", "ecdsa-sha2-nistp384"),
            ("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"),
            ("ecdsa", "ed25519"),
            ("ed25519", "ecdsa-sha2-nistp256"),
            ("ed25519", "ED25519"),
            ("Ed25519", "ed25519"),
            ("sphincs", "sphincs-shake-128s"),
            ("", ""),
        ] {
            for keyval in [BTreeMap::new(), keyval("not a key")] {
                assert!(
                    PublicKey::from_parts(keytype, scheme, &keyval)
                        .unwrap()
                        .is_none(),
                    "{keytype}/{scheme}"
                );
            }
        }
    }

    #[test]
    fn legacy_ecdsa_keytype_is_accepted() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let pem = public_pem(&key);
        let public =
            PublicKey::from_parts("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", &keyval(&pem))
                .unwrap()
                .unwrap();
        assert!(public.verify(MESSAGE, &key.sign(MESSAGE).unwrap()));
    }

    #[test]
    fn keyval_without_string_public_is_an_error() {
        let missing = PublicKey::from_parts("ed25519", "ed25519", &BTreeMap::new()).unwrap_err();
        assert!(matches!(missing, KeyError::MissingPublicKey), "{missing}");
        let mut numeric = BTreeMap::new();
        numeric.insert("public".to_owned(), Value::Int(5));
        let not_string = PublicKey::from_parts("rsa", "rsassa-pss-sha256", &numeric).unwrap_err();
        assert!(
            matches!(
                not_string,
                KeyError::PublicKeyNotString { found: "integer" }
            ),
            "{not_string}"
        );
        assert_message_style(&missing);
        assert_message_style(&not_string);
    }

    #[test]
    fn ed25519_public_key_must_be_32_bytes_of_hex() {
        for bad in [
            "",
            &RFC8032_PUBLIC[2..],
            &format!("{RFC8032_PUBLIC}00"),
            &format!("{}zz", &RFC8032_PUBLIC[2..]),
            &format!("0x{}", &RFC8032_PUBLIC[2..]),
        ] {
            let error = PublicKey::from_parts("ed25519", "ed25519", &keyval(bad)).unwrap_err();
            assert!(
                matches!(error, KeyError::InvalidEd25519PublicKey),
                "{error}"
            );
        }
        // Either case is fine, as for Python's bytes.fromhex.
        let upper = RFC8032_PUBLIC.to_ascii_uppercase();
        let public = PublicKey::from_parts("ed25519", "ed25519", &keyval(&upper))
            .unwrap()
            .unwrap();
        assert!(public.verify(b"", RFC8032_EMPTY_SIGNATURE));
    }

    // ---- PEM ----------------------------------------------------------------

    #[test]
    fn pem_tolerates_crlf_and_surrounding_whitespace() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let pem = public_pem(&key);
        let messy = format!("\n \t{}  \r\n\r\n", pem.replace('\n', " \r\n"));
        let public = PublicKey::from_parts("ecdsa", "ecdsa-sha2-nistp256", &keyval(&messy))
            .unwrap()
            .unwrap();
        assert_eq!(public, key.public_key());
    }

    /// Whether an error is the one a case expects.
    type IsExpected = fn(&KeyError) -> bool;

    #[test]
    fn malformed_pem_gives_the_specific_error() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let pem = public_pem(&key);
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let cases: Vec<(String, IsExpected)> = vec![
            (String::new(), |e| matches!(e, KeyError::PemMissingBegin)),
            (body.clone(), |e| matches!(e, KeyError::PemMissingBegin)),
            (pem.replace("-----BEGIN", "----BEGIN"), |e| {
                matches!(e, KeyError::PemMissingBegin)
            }),
            (pem.replace("-----END PUBLIC KEY-----\n", ""), |e| {
                matches!(e, KeyError::PemMissingEnd)
            }),
            ("-----BEGIN PUBLIC KEY-----".to_owned(), |e| {
                matches!(e, KeyError::PemMissingEnd)
            }),
            (pem.replace("END PUBLIC KEY", "END RSA PUBLIC KEY"), |e| {
                matches!(e, KeyError::PemLabelMismatch)
            }),
            (pem.replace("PUBLIC KEY", "RSA PUBLIC KEY"), |e| {
                matches!(
                    e,
                    KeyError::PemUnexpectedLabel {
                        expected: "PUBLIC KEY"
                    }
                )
            }),
            (pem.replace("PUBLIC KEY", "CERTIFICATE"), |e| {
                matches!(e, KeyError::PemUnexpectedLabel { .. })
            }),
            (pem.replacen('M', "-", 1), |e| {
                matches!(e, KeyError::PemBase64)
            }),
            (pem.replacen('\n', "\nProc-Type: 4,ENCRYPTED\n", 1), |e| {
                matches!(e, KeyError::PemBase64)
            }),
            (format!("{pem}{pem}"), |e| matches!(e, KeyError::PemBase64)),
            // base64url is not the standard alphabet.
            (
                format!(
                    "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                    body.replace('+', "-").replace('/', "_") + "-_"
                ),
                |e| matches!(e, KeyError::PemBase64),
            ),
        ];
        for (text, expected) in cases {
            let error =
                PublicKey::from_parts("ecdsa", "ecdsa-sha2-nistp256", &keyval(&text)).unwrap_err();
            assert!(expected(&error), "{text:?} gave {error:?}");
            assert_message_style(&error);
        }
    }

    #[test]
    fn rsa_accepts_pkcs1_rsa_public_key_pem() {
        let key = SigningKey::from_pkcs8(Algorithm::RsaPssSha256, &rsa_2048().pkcs8).unwrap();
        let pem = pem_encode(PEM_RSA_PUBLIC_KEY, &key.public_key().ring_key);
        let public = PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pem))
            .unwrap()
            .unwrap();
        assert_eq!(public, key.public_key());
        assert!(public.verify(MESSAGE, &key.sign(MESSAGE).unwrap()));
    }

    // ---- DER ----------------------------------------------------------------

    #[test]
    fn wrong_curve_is_refused() {
        let point = SigningKey::generate(Algorithm::EcdsaP256)
            .unwrap()
            .public_key()
            .ring_key;
        let secp256k1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
        let explicit = [0x30, 0x03, 0x02, 0x01, 0x01];
        let trailing = [P256_PARAMETERS, &[0x05, 0x00]].concat();
        for parameters in [&secp256k1[..], &explicit, &[0x05, 0x00], &[], &trailing] {
            let spki = der::spki(oid::EC_PUBLIC_KEY, parameters, &point);
            let pem = pem_encode(PEM_PUBLIC_KEY, &spki);
            let error =
                PublicKey::from_parts("ecdsa", "ecdsa-sha2-nistp256", &keyval(&pem)).unwrap_err();
            assert!(matches!(error, KeyError::UnsupportedCurve), "{error:?}");
        }
    }

    #[test]
    fn ecdsa_point_must_be_uncompressed_p256() {
        let point = SigningKey::generate(Algorithm::EcdsaP256)
            .unwrap()
            .public_key()
            .ring_key;
        let mut compressed = vec![0x02 | (point[64] & 1)];
        compressed.extend_from_slice(&point[1..33]);
        let mut hybrid = point.clone();
        hybrid[0] = 0x06;
        for bad in [
            &compressed[..],
            &hybrid,
            &point[..64],
            &[point.as_slice(), &[0]].concat(),
            &[],
        ] {
            let spki = der::spki(oid::EC_PUBLIC_KEY, P256_PARAMETERS, bad);
            let pem = pem_encode(PEM_PUBLIC_KEY, &spki);
            let error =
                PublicKey::from_parts("ecdsa", "ecdsa-sha2-nistp256", &keyval(&pem)).unwrap_err();
            assert!(matches!(error, KeyError::InvalidEcPoint), "{error:?}");
        }
    }

    #[test]
    fn key_algorithm_must_match_keytype() {
        let ecdsa_pem = pem_encode(PEM_PUBLIC_KEY, &ecdsa_spki());
        let rsa_pem = pem_encode(PEM_PUBLIC_KEY, &rsa_spki());
        let error =
            PublicKey::from_parts("ecdsa", "ecdsa-sha2-nistp256", &keyval(&rsa_pem)).unwrap_err();
        assert!(
            matches!(
                error,
                KeyError::WrongKeyAlgorithm {
                    expected: "id-ecPublicKey"
                }
            ),
            "{error:?}"
        );
        let error =
            PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&ecdsa_pem)).unwrap_err();
        assert!(
            matches!(
                error,
                KeyError::WrongKeyAlgorithm {
                    expected: "rsaEncryption"
                }
            ),
            "{error:?}"
        );
        // RSASSA-PSS (1.2.840.113549.1.1.10) key identifiers are not rsaEncryption.
        let rsa_key = SigningKey::from_pkcs8(Algorithm::RsaPssSha256, &rsa_2048().pkcs8)
            .unwrap()
            .public_key()
            .ring_key;
        let pss_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
        let pss_pem = pem_encode(PEM_PUBLIC_KEY, &der::spki(&pss_oid, &[], &rsa_key));
        let error =
            PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pss_pem)).unwrap_err();
        assert!(
            matches!(error, KeyError::WrongKeyAlgorithm { .. }),
            "{error:?}"
        );
        // rsaEncryption parameters must be NULL.
        for (parameters, expected) in [
            (&[][..], DerError::Truncated),
            (&[0x05, 0x01, 0x00], DerError::NonEmptyNull),
            (&[0x05, 0x00, 0x05, 0x00], DerError::TrailingData),
        ] {
            let pem = pem_encode(
                PEM_PUBLIC_KEY,
                &der::spki(oid::RSA_ENCRYPTION, parameters, &rsa_key),
            );
            let error =
                PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pem)).unwrap_err();
            assert!(
                matches!(error, KeyError::MalformedDer(found) if found == expected),
                "{error:?}"
            );
        }
    }

    #[test]
    fn truncated_der_is_malformed() {
        for (keytype, scheme, spki) in [
            ("ecdsa", "ecdsa-sha2-nistp256", ecdsa_spki()),
            ("rsa", "rsassa-pss-sha256", rsa_spki()),
        ] {
            for len in 0..spki.len() {
                let pem = pem_encode(PEM_PUBLIC_KEY, &spki[..len]);
                let error = PublicKey::from_parts(keytype, scheme, &keyval(&pem)).unwrap_err();
                assert!(
                    matches!(error, KeyError::MalformedDer(DerError::Truncated)),
                    "{keytype} truncated to {len}: {error:?}"
                );
            }
            let mut longer = spki.clone();
            longer.push(0);
            let pem = pem_encode(PEM_PUBLIC_KEY, &longer);
            let error = PublicKey::from_parts(keytype, scheme, &keyval(&pem)).unwrap_err();
            assert!(
                matches!(error, KeyError::MalformedDer(DerError::TrailingData)),
                "{error:?}"
            );
            assert_message_style(&error);
        }
    }

    #[test]
    fn mutated_der_never_panics() {
        for (keytype, scheme, spki) in [
            ("ecdsa", "ecdsa-sha2-nistp256", ecdsa_spki()),
            ("rsa", "rsassa-pss-sha256", rsa_spki()),
        ] {
            let mut accepted = 0;
            for index in 0..spki.len() {
                for value in [0x00, 0x01, 0x7f, 0x80, 0x81, 0x84, 0xff, spki[index] ^ 0x01] {
                    let mut mutated = spki.clone();
                    mutated[index] = value;
                    let pem = pem_encode(PEM_PUBLIC_KEY, &mutated);
                    if let Ok(Some(key)) = PublicKey::from_parts(keytype, scheme, &keyval(&pem)) {
                        accepted += 1;
                        let _ = key.verify(MESSAGE, &"00".repeat(64));
                    }
                }
            }
            // Mutations inside the key bytes still parse; structure ones do not.
            assert!(accepted > 0 && accepted < spki.len() * 8, "{accepted}");
        }
    }

    #[test]
    fn der_lengths_must_be_definite_and_minimal() {
        let read = |input: &[u8]| {
            der::Reader::new(input)
                .read(der::TAG_SEQUENCE)
                .map(<[u8]>::len)
        };
        let long = {
            let mut out = Vec::new();
            der::write(der::TAG_SEQUENCE, &[7; 300], &mut out);
            out
        };
        assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x2c]);
        assert_eq!(read(&long), Ok(300));
        assert_eq!(read(&[0x30, 0x81, 0x80]), Err(DerError::Truncated));
        assert_eq!(
            read(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]),
            Err(DerError::NonMinimalLength)
        );
        assert_eq!(
            read(&[0x30, 0x82, 0x00, 0x90]),
            Err(DerError::NonMinimalLength)
        );
        assert_eq!(
            read(&[0x30, 0x80, 0x00, 0x00]),
            Err(DerError::IndefiniteLength)
        );
        assert_eq!(
            read(&[0x30, 0x85, 1, 0, 0, 0, 0]),
            Err(DerError::LengthTooLarge)
        );
        assert_eq!(
            read(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(DerError::Truncated)
        );
        assert_eq!(read(&[0x30, 0x82, 0x01]), Err(DerError::Truncated));
        assert_eq!(read(&[0x30]), Err(DerError::Truncated));
        assert_eq!(read(&[]), Err(DerError::Truncated));
        assert_eq!(
            read(&[0x31, 0x00]),
            Err(DerError::UnexpectedTag {
                expected: 0x30,
                found: 0x31
            })
        );
    }

    #[test]
    fn der_integers_and_bit_strings_are_strict() {
        let integer = |input: &[u8]| {
            der::Reader::new(input)
                .read_unsigned_integer()
                .map(<[u8]>::to_vec)
        };
        assert_eq!(integer(&[0x02, 0x00]), Err(DerError::EmptyInteger));
        assert_eq!(
            integer(&[0x02, 0x02, 0x00, 0x7f]),
            Err(DerError::NonMinimalInteger)
        );
        assert_eq!(
            integer(&[0x02, 0x02, 0xff, 0x80]),
            Err(DerError::NonMinimalInteger)
        );
        assert_eq!(integer(&[0x02, 0x01, 0x80]), Err(DerError::NegativeInteger));
        assert_eq!(integer(&[0x02, 0x02, 0x00, 0x80]), Ok(vec![0x80]));
        assert_eq!(integer(&[0x02, 0x01, 0x00]), Ok(vec![]));
        assert_eq!(integer(&[0x02, 0x01, 0x7f]), Ok(vec![0x7f]));

        let bits = |input: &[u8]| {
            der::Reader::new(input)
                .read_bit_string()
                .map(<[u8]>::to_vec)
        };
        assert_eq!(bits(&[0x03, 0x00]), Err(DerError::EmptyBitString));
        assert_eq!(
            bits(&[0x03, 0x02, 0x01, 0xfe]),
            Err(DerError::BitStringUnusedBits)
        );
        assert_eq!(bits(&[0x03, 0x02, 0x00, 0xfe]), Ok(vec![0xfe]));

        assert_eq!(der::bit_length(&[]), 0);
        assert_eq!(der::bit_length(&[0x00, 0x01]), 1);
        assert_eq!(der::bit_length(&[0x80, 0x00]), 16);
        assert_eq!(der::bit_length(&[0x7f, 0x00, 0x00]), 23);
    }

    // ---- RSA key sizes and exponents ---------------------------------------

    #[test]
    fn rsa_modulus_must_be_2048_to_8192_bits() {
        let parse = |bits: usize| {
            let pem = pem_encode(PEM_RSA_PUBLIC_KEY, &pkcs1_rsa_public_key(bits, &[1, 0, 1]));
            PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pem))
        };
        for bits in [1024, 2040, 2047] {
            let error = parse(bits).unwrap_err();
            assert!(
                matches!(error, KeyError::RsaKeyTooSmall { bits: found } if found == bits),
                "{bits}: {error:?}"
            );
        }
        for bits in [2048, 3000, 4096, 8192] {
            assert!(parse(bits).unwrap().is_some(), "{bits}");
        }
        let error = parse(8193).unwrap_err();
        assert!(
            matches!(
                error,
                KeyError::RsaKeyTooLarge {
                    bits: 8193,
                    max: 8192
                }
            ),
            "{error:?}"
        );
        assert_message_style(&error);
    }

    #[test]
    fn rsa_exponent_must_be_usable() {
        for exponent in [
            &[0x01][..],
            &[0x02],
            &[0x01, 0x00, 0x00],
            &[0x02, 0x00, 0x00, 0x00, 0x01],
            &[0x00],
        ] {
            let pem = pem_encode(PEM_RSA_PUBLIC_KEY, &pkcs1_rsa_public_key(2048, exponent));
            let error =
                PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pem)).unwrap_err();
            assert!(
                matches!(error, KeyError::UnsupportedRsaExponent),
                "{exponent:?}: {error:?}"
            );
        }
        for exponent in [
            &[0x03][..],
            &[0x01, 0x00, 0x01],
            &[0x01, 0xff, 0xff, 0xff, 0xff],
        ] {
            let pem = pem_encode(PEM_RSA_PUBLIC_KEY, &pkcs1_rsa_public_key(2048, exponent));
            assert!(
                PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pem))
                    .unwrap()
                    .is_some(),
                "{exponent:?}"
            );
        }
    }

    #[test]
    fn rsa_1024_bit_keys_are_refused() {
        let key = rsa_1024();
        let error = PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&key.public_pem))
            .unwrap_err();
        assert!(
            matches!(error, KeyError::RsaKeyTooSmall { bits: 1024 }),
            "{error:?}"
        );
        assert_message_style(&error);
        let error = SigningKey::from_pkcs8(Algorithm::RsaPssSha256, &key.pkcs8).unwrap_err();
        assert!(
            matches!(error, KeyError::RsaKeyTooSmall { bits: 1024 }),
            "{error:?}"
        );
    }

    // ---- signing keys -------------------------------------------------------

    #[test]
    fn rsa_cannot_be_generated() {
        let error = SigningKey::generate(Algorithm::RsaPssSha256).unwrap_err();
        assert!(
            matches!(
                error,
                KeyError::CannotGenerate {
                    algorithm: Algorithm::RsaPssSha256
                }
            ),
            "{error:?}"
        );
        assert_message_style(&error);
    }

    #[test]
    fn pkcs8_of_another_algorithm_or_garbage_is_refused() {
        let ed25519 = rfc8032_pkcs8();
        let ecdsa = SigningKey::generate(Algorithm::EcdsaP256)
            .unwrap()
            .to_pkcs8()
            .to_vec();
        for (algorithm, der) in [
            (Algorithm::EcdsaP256, ed25519.clone()),
            (Algorithm::RsaPssSha256, ed25519.clone()),
            (Algorithm::Ed25519, ecdsa.clone()),
            (Algorithm::RsaPssSha256, ecdsa),
            (Algorithm::Ed25519, rsa_2048().pkcs8.clone()),
            (Algorithm::Ed25519, ed25519[..ed25519.len() - 1].to_vec()),
            (Algorithm::RsaPssSha256, vec![]),
            (Algorithm::EcdsaP256, vec![0x30, 0x00]),
        ] {
            let error = SigningKey::from_pkcs8(algorithm, &der).unwrap_err();
            assert!(
                matches!(error, KeyError::InvalidPkcs8 { algorithm: found, .. } if found == algorithm),
                "{algorithm:?}: {error:?}"
            );
            assert_message_style(&error);
        }
    }

    #[test]
    fn ed25519_pkcs8_v2_is_accepted_and_checked() {
        let rng = SystemRandom::new();
        let v2 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let key = SigningKey::from_pkcs8(Algorithm::Ed25519, v2.as_ref()).unwrap();
        assert!(
            key.public_key()
                .verify(MESSAGE, &key.sign(MESSAGE).unwrap())
        );
        // A v2 document whose public key does not match the seed is refused.
        let mut inconsistent = v2.as_ref().to_vec();
        *inconsistent.last_mut().unwrap() ^= 1;
        let error = SigningKey::from_pkcs8(Algorithm::Ed25519, &inconsistent).unwrap_err();
        assert!(matches!(error, KeyError::InvalidPkcs8 { .. }), "{error:?}");
    }

    #[test]
    fn generated_ed25519_keys_are_pkcs8_v1() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        assert_eq!(key.to_pkcs8().len(), 48);
        assert!(key.to_pkcs8().starts_with(ED25519_PKCS8_V1_PREFIX));
    }

    #[test]
    fn material_is_the_same_however_the_key_is_written() {
        let lower = PublicKey::from_parts("ed25519", "ed25519", &keyval(RFC8032_PUBLIC))
            .unwrap()
            .unwrap();
        let upper = PublicKey::from_parts(
            "ed25519",
            "ed25519",
            &keyval(&RFC8032_PUBLIC.to_ascii_uppercase()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(lower.material(), upper.material());
        assert_eq!(lower.material(), hex::decode(RFC8032_PUBLIC).unwrap());

        let ecdsa = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let pem = public_pem(&ecdsa);
        let current = PublicKey::from_parts("ecdsa", "ecdsa-sha2-nistp256", &keyval(&pem))
            .unwrap()
            .unwrap();
        let legacy = PublicKey::from_parts(
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp256",
            &keyval(&pem.replace('\n', "\r\n")),
        )
        .unwrap()
        .unwrap();
        assert_eq!(current.material(), legacy.material());
        assert_eq!(current.material().len(), 65);

        let rsa = SigningKey::from_pkcs8(Algorithm::RsaPssSha256, &rsa_2048().pkcs8).unwrap();
        let spki = PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&public_pem(&rsa)))
            .unwrap()
            .unwrap();
        let pkcs1_pem = pem_encode(PEM_RSA_PUBLIC_KEY, spki.material());
        let pkcs1 = PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pkcs1_pem))
            .unwrap()
            .unwrap();
        assert_eq!(spki.material(), pkcs1.material());
        assert_eq!(spki.material()[0], 0x30);
    }

    #[test]
    fn debug_shows_algorithm_and_key_id_only() {
        let key = SigningKey::from_pkcs8(Algorithm::Ed25519, &rfc8032_pkcs8()).unwrap();
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("SigningKey {{ algorithm: Ed25519, key_id: {RFC8032_KEY_ID:?}, .. }}")
        );
        assert!(!debug.contains(RFC8032_SEED));
        assert!(!debug.contains(RFC8032_PUBLIC));
    }

    // ---- interop with openssl ----------------------------------------------

    #[test]
    fn openssl_rsa_pss_signatures_verify() {
        let openssl = OpenSsl::new();
        openssl.generate(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
        openssl.write("message", MESSAGE);
        openssl.ok(&[
            "dgst",
            "-sha256",
            "-sign",
            "key.pem",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-out",
            "signature",
            "message",
        ]);
        let public = PublicKey::from_parts(
            "rsa",
            "rsassa-pss-sha256",
            &keyval(&openssl.read_text("pub.pem")),
        )
        .unwrap()
        .unwrap();
        let signature = hex::encode(&openssl.read("signature"));
        assert!(public.verify(MESSAGE, &signature));
        assert!(!public.verify(b"other message", &signature));

        // The same key as PKCS#1 "RSA PUBLIC KEY" PEM.
        openssl.ok(&[
            "rsa",
            "-in",
            "key.pem",
            "-RSAPublicKey_out",
            "-out",
            "pkcs1.pem",
        ]);
        let pkcs1 = openssl.read_text("pkcs1.pem");
        assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"));
        let same = PublicKey::from_parts("rsa", "rsassa-pss-sha256", &keyval(&pkcs1))
            .unwrap()
            .unwrap();
        assert_eq!(same, public);

        // With the maximum salt length instead of 32 bytes, ring refuses the
        // signature (python-tuf's verifier would accept it: PSS.AUTO).
        openssl.ok(&[
            "dgst",
            "-sha256",
            "-sign",
            "key.pem",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:max",
            "-out",
            "signature-max",
            "message",
        ]);
        assert!(!public.verify(MESSAGE, &hex::encode(&openssl.read("signature-max"))));
    }

    #[test]
    fn openssl_rsa_1024_public_key_is_refused() {
        let openssl = OpenSsl::new();
        openssl.generate(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]);
        let error = PublicKey::from_parts(
            "rsa",
            "rsassa-pss-sha256",
            &keyval(&openssl.read_text("pub.pem")),
        )
        .unwrap_err();
        assert!(
            matches!(error, KeyError::RsaKeyTooSmall { bits: 1024 }),
            "{error:?}"
        );
    }

    #[test]
    fn openssl_ecdsa_signatures_verify() {
        let openssl = OpenSsl::new();
        openssl.generate(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        openssl.write("message", MESSAGE);
        openssl.ok(&[
            "dgst",
            "-sha256",
            "-sign",
            "key.pem",
            "-out",
            "signature",
            "message",
        ]);
        let public = PublicKey::from_parts(
            "ecdsa",
            "ecdsa-sha2-nistp256",
            &keyval(&openssl.read_text("pub.pem")),
        )
        .unwrap()
        .unwrap();
        let signature = hex::encode(&openssl.read("signature"));
        assert!(public.verify(MESSAGE, &signature));
        assert!(!public.verify(b"other message", &signature));
    }

    #[test]
    fn openssl_p384_key_is_refused() {
        let openssl = OpenSsl::new();
        openssl.generate(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
        let error = PublicKey::from_parts(
            "ecdsa",
            "ecdsa-sha2-nistp256",
            &keyval(&openssl.read_text("pub.pem")),
        )
        .unwrap_err();
        assert!(matches!(error, KeyError::UnsupportedCurve), "{error:?}");
    }

    #[test]
    fn openssl_ed25519_signatures_verify() {
        let openssl = OpenSsl::new();
        openssl.generate(&["-algorithm", "ED25519"]);
        openssl.write("message", MESSAGE);
        openssl.ok(&[
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-rawin",
            "-in",
            "message",
            "-out",
            "signature",
        ]);
        // openssl writes PKCS#8 v1 (no public key) for Ed25519.
        let key = SigningKey::from_pkcs8(Algorithm::Ed25519, &openssl.read("key.der")).unwrap();
        let public = key.public_key();
        let signature = hex::encode(&openssl.read("signature"));
        assert!(public.verify(MESSAGE, &signature));
        // Ed25519 is deterministic: our signature is byte-identical.
        assert_eq!(key.sign(MESSAGE).unwrap(), signature);
    }

    /// Signs `MESSAGE` with a key openssl generated, checks the public key
    /// PEM is byte-identical to openssl's, and has openssl verify.
    fn openssl_verifies_our_signature(genpkey: &[&str], algorithm: Algorithm, verify: &[&str]) {
        let openssl = OpenSsl::new();
        openssl.generate(genpkey);
        let key = SigningKey::from_pkcs8(algorithm, &openssl.read("key.der")).unwrap();
        if algorithm != Algorithm::Ed25519 {
            assert_eq!(public_pem(&key), openssl.read_text("pub.pem"));
        }
        openssl.write("message", MESSAGE);
        openssl.write(
            "signature",
            &hex::decode(&key.sign(MESSAGE).unwrap()).unwrap(),
        );
        openssl.ok(verify);
        // And a wrong signature makes openssl fail, so the check has teeth.
        openssl.write(
            "signature",
            &hex::decode(&flip_last_bit(&key.sign(MESSAGE).unwrap())).unwrap(),
        );
        assert!(!openssl.run(verify).status.success());
    }

    #[test]
    fn openssl_verifies_our_rsa_signatures() {
        openssl_verifies_our_signature(
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            Algorithm::RsaPssSha256,
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
                "-signature",
                "signature",
                "message",
            ],
        );
    }

    #[test]
    fn openssl_verifies_our_ecdsa_signatures() {
        openssl_verifies_our_signature(
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Algorithm::EcdsaP256,
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "signature",
                "message",
            ],
        );
    }

    #[test]
    fn openssl_verifies_our_ed25519_signatures() {
        openssl_verifies_our_signature(
            &["-algorithm", "ED25519"],
            Algorithm::Ed25519,
            &[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "pub.pem",
                "-rawin",
                "-in",
                "message",
                "-sigfile",
                "signature",
            ],
        );
    }

    #[test]
    fn our_generated_keys_load_in_openssl() {
        for algorithm in [Algorithm::Ed25519, Algorithm::EcdsaP256] {
            let openssl = OpenSsl::new();
            let key = SigningKey::generate(algorithm).unwrap();
            openssl.write("ours.der", key.to_pkcs8());
            openssl.ok(&[
                "pkey", "-inform", "DER", "-in", "ours.der", "-pubout", "-out", "pub.pem",
            ]);
            if algorithm == Algorithm::EcdsaP256 {
                assert_eq!(public_pem(&key), openssl.read_text("pub.pem"));
            }
        }
    }
}
