//! The digests an index records for an upload, computed once by whoever
//! holds the bytes: while writing them (a request body streamed to a
//! temporary file) or over a slice already in memory.

use std::io::{self, Write};

use bulwark_tuf::hash::{HashAlgorithm, Hasher};

/// The SHA-256, BLAKE2b-256 and size of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// BLAKE2b-256, lowercase hex.
    pub blake2b_256: String,
    /// Size in bytes.
    pub size: u64,
}

impl Digests {
    /// The digests of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        let mut hashing = Hashing::new();
        hashing.update(bytes);
        hashing.finish()
    }
}

/// A writer that passes everything to `W` and hashes what `W` accepted.
pub struct DigestWriter<W> {
    inner: W,
    hashing: Hashing,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hashing: Hashing::new(),
        }
    }

    /// The writer back (not flushed), and the digests of everything
    /// written through it.
    pub fn finish(self) -> (W, Digests) {
        (self.inner, self.hashing.finish())
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hashing.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The running hashes and count behind [`Digests`].
struct Hashing {
    sha256: Hasher,
    blake2b_256: Hasher,
    size: u64,
}

impl Hashing {
    fn new() -> Self {
        Self {
            sha256: Hasher::new(HashAlgorithm::Sha256),
            blake2b_256: Hasher::new(HashAlgorithm::Blake2b256),
            size: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        self.blake2b_256.update(data);
        self.size += data.len() as u64;
    }

    fn finish(self) -> Digests {
        Digests {
            sha256: bulwark_tuf::hex::encode(&self.sha256.finish()),
            blake2b_256: bulwark_tuf::hex::encode(&self.blake2b_256.finish()),
            size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_slice_agree_whatever_the_chunks() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut writer = DigestWriter::new(Vec::new());
        for chunk in data.chunks(7_777) {
            writer.write_all(chunk).unwrap();
        }
        let (written, digests) = writer.finish();
        assert_eq!(written, data);
        assert_eq!(digests, Digests::of(&data));
        assert_eq!(digests.size, 100_000);
        assert_eq!(digests.sha256, bulwark_tuf::hash::sha256_hex(&data));
        assert_eq!(
            digests.blake2b_256,
            bulwark_tuf::hex::encode(&HashAlgorithm::Blake2b256.digest(&data))
        );
    }
}
