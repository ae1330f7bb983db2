//! Length and hash checks of downloaded bytes against the metadata that
//! describes them (spec 1.0.34 §5.5.2, §5.6.2, §5.7.3).
//!
//! Every listed hash must be of an algorithm we implement and must match:
//! a hash we cannot check is a refusal, never a pass.

use std::collections::BTreeMap;

use blake2::Digest as _;

use crate::hex;

/// A hash algorithm named in metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `sha256`
    Sha256,
    /// `sha512`
    Sha512,
    /// `blake2b-256` (`BLAKE2b` with a 32-byte digest)
    Blake2b256,
}

impl HashAlgorithm {
    /// The algorithm called `name` in metadata, if we implement it.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            "blake2b-256" => Some(Self::Blake2b256),
            _ => None,
        }
    }

    /// The name used in metadata.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
            Self::Blake2b256 => "blake2b-256",
        }
    }

    /// The digest of `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut hasher = Hasher::new(self);
        hasher.update(data);
        hasher.finish()
    }
}

/// The SHA-256 of `data` as lowercase hex.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// An incremental hasher for one algorithm, for data that arrives in chunks.
pub struct Hasher(HasherState);

enum HasherState {
    Ring(Box<ring::digest::Context>),
    Blake2b256(Box<blake2::Blake2b<blake2::digest::consts::U32>>),
}

impl Hasher {
    /// A new hasher.
    #[must_use]
    pub fn new(algorithm: HashAlgorithm) -> Self {
        Self(match algorithm {
            HashAlgorithm::Sha256 => {
                HasherState::Ring(Box::new(ring::digest::Context::new(&ring::digest::SHA256)))
            }
            HashAlgorithm::Sha512 => {
                HasherState::Ring(Box::new(ring::digest::Context::new(&ring::digest::SHA512)))
            }
            HashAlgorithm::Blake2b256 => HasherState::Blake2b256(Box::default()),
        })
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherState::Ring(ctx) => ctx.update(data),
            HasherState::Blake2b256(h) => h.update(data),
        }
    }

    /// The digest of everything fed.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            HasherState::Ring(ctx) => ctx.finish().as_ref().to_vec(),
            HasherState::Blake2b256(h) => h.finalize().to_vec(),
        }
    }
}

/// Why bytes did not match their description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The byte count differs from the listed length.
    #[error("length is {actual} bytes, metadata says {expected}")]
    Length {
        /// Listed length.
        expected: u64,
        /// Actual length.
        actual: u64,
    },
    /// A listed digest does not match.
    #[error("{algorithm} hash does not match metadata")]
    Hash {
        /// The algorithm whose digest differs.
        algorithm: String,
    },
    /// A listed hash uses an algorithm we do not implement, so it cannot be checked.
    #[error("hash algorithm {algorithm:?} is not supported, so the hash cannot be checked")]
    UnsupportedAlgorithm {
        /// The algorithm's name.
        algorithm: String,
    },
    /// No hashes are listed where they are required.
    #[error("metadata lists no hashes to check")]
    NoHashes,
}

/// Checks the length of data already received.
pub fn check_length(actual: u64, expected: Option<u64>) -> Result<(), Mismatch> {
    match expected {
        Some(expected) if expected != actual => Err(Mismatch::Length { expected, actual }),
        _ => Ok(()),
    }
}

/// Streams data through every listed algorithm and compares the digests at
/// the end. Unsupported algorithms are refused at construction, before any
/// byte is downloaded.
pub struct HashCheck {
    hashers: Vec<(HashAlgorithm, Vec<u8>, Hasher)>,
}

impl HashCheck {
    /// A check of the listed `hashes` (algorithm name → hex digest).
    pub fn new(hashes: &BTreeMap<String, String>) -> Result<Self, Mismatch> {
        if hashes.is_empty() {
            return Err(Mismatch::NoHashes);
        }
        let checks = hashes
            .iter()
            .map(|(name, expected)| {
                let algorithm = HashAlgorithm::from_name(name).ok_or_else(|| {
                    Mismatch::UnsupportedAlgorithm {
                        algorithm: name.clone(),
                    }
                })?;
                // A digest that is not hex can never match; report it as a mismatch.
                let expected = hex::decode(expected).unwrap_or_default();
                Ok((algorithm, expected, Hasher::new(algorithm)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { hashers: checks })
    }

    /// Feeds a chunk.
    pub fn update(&mut self, data: &[u8]) {
        for (_, _, hasher) in &mut self.hashers {
            hasher.update(data);
        }
    }

    /// Compares every digest.
    pub fn finish(self) -> Result<(), Mismatch> {
        for (algorithm, expected, hasher) in self.hashers {
            if hasher.finish() != expected {
                return Err(Mismatch::Hash {
                    algorithm: algorithm.name().to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// Checks `data` against an optional length and optional hashes, as listed
/// for metadata files in timestamp and snapshot (`METAFILES`).
pub fn check_meta(
    data: &[u8],
    length: Option<u64>,
    hashes: Option<&BTreeMap<String, String>>,
) -> Result<(), Mismatch> {
    check_length(data.len() as u64, length)?;
    if let Some(hashes) = hashes {
        let mut check = HashCheck::new(hashes)?;
        check.update(data);
        check.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, h)| ((*a).to_owned(), (*h).to_owned()))
            .collect()
    }

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const ABC_BLAKE2B256: &str = "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319";

    #[test]
    fn known_digests() {
        assert_eq!(sha256_hex(b"abc"), ABC_SHA256);
        assert_eq!(
            hex::encode(&HashAlgorithm::Blake2b256.digest(b"abc")),
            ABC_BLAKE2B256
        );
        assert_eq!(HashAlgorithm::Sha512.digest(b"abc").len(), 64);
    }

    #[test]
    fn every_listed_hash_must_match() {
        let good = hashes(&[("sha256", ABC_SHA256), ("blake2b-256", ABC_BLAKE2B256)]);
        assert_eq!(check_meta(b"abc", Some(3), Some(&good)), Ok(()));
        let upper = hashes(&[("sha256", &ABC_SHA256.to_uppercase())]);
        assert_eq!(check_meta(b"abc", None, Some(&upper)), Ok(()));
        let one_bad = hashes(&[("sha256", ABC_SHA256), ("blake2b-256", ABC_SHA256)]);
        assert_eq!(
            check_meta(b"abc", None, Some(&one_bad)),
            Err(Mismatch::Hash {
                algorithm: "blake2b-256".into()
            })
        );
        assert_eq!(
            check_meta(b"abd", None, Some(&hashes(&[("sha256", ABC_SHA256)]))),
            Err(Mismatch::Hash {
                algorithm: "sha256".into()
            })
        );
        assert_eq!(
            check_meta(b"abc", None, Some(&hashes(&[("sha256", "zz")]))),
            Err(Mismatch::Hash {
                algorithm: "sha256".into()
            })
        );
    }

    #[test]
    fn unsupported_or_missing_hashes_are_refused() {
        let md5 = hashes(&[("md5", "900150983cd24fb0d6963f7d28e17f72")]);
        assert_eq!(
            check_meta(b"abc", None, Some(&md5)),
            Err(Mismatch::UnsupportedAlgorithm {
                algorithm: "md5".into()
            })
        );
        assert_eq!(
            check_meta(b"abc", None, Some(&BTreeMap::new())),
            Err(Mismatch::NoHashes)
        );
    }

    #[test]
    fn length_must_match() {
        assert_eq!(
            check_meta(b"abc", Some(4), None),
            Err(Mismatch::Length {
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(check_meta(b"abc", None, None), Ok(()));
    }
}
