//! Zip archives (wheels and legacy `.zip` sdists).
//!
//! Before the `zip` crate builds its index of the central directory, the
//! entry counts declared by every end-of-central-directory record in the
//! tail are checked against the cap, so a small archive cannot make it
//! allocate for millions of entries. The end record must be the one
//! Python's `zipfile` would pick, the local headers must agree with the
//! central directory (streaming readers, such as uv's, read the former;
//! `zipfile` and pip read the latter), and every entry is inflated with its
//! declared and actual sizes checked against the caps. Entries go into the
//! [`Tree`](super::tree) the archive extracts to; links are refused
//! outright, since no wheel or zip sdist needs one and pip and uv would
//! create them.

use std::cell::Cell;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use zip::{CompressionMethod, ZipArchive};

use super::tree::Kind;
use super::{Budget, Layout, Limits, Source, UploadError, capture_chunk, check_entry};
use crate::shown::shown;

/// Signature of the end of central directory record.
const EOCD: [u8; 4] = *b"PK\x05\x06";
/// Signature of the zip64 end of central directory locator.
const ZIP64_LOCATOR: [u8; 4] = *b"PK\x06\x07";
/// Signature of the zip64 end of central directory record.
const ZIP64_EOCD: [u8; 4] = *b"PK\x06\x06";
/// Size of the end of central directory record without its comment.
const EOCD_LEN: usize = 22;
/// Size of the zip64 locator.
const ZIP64_LOCATOR_LEN: usize = 20;
/// Inflation buffer size: the most a cap can be overshot before it is noticed.
const CHUNK: usize = 64 * 1024;
/// The file type bits of a Unix mode (`S_IFMT`).
const S_IFMT: u32 = 0o170_000;
/// A symbolic link (`S_IFLNK`).
const S_IFLNK: u32 = 0o120_000;
/// A regular file (`S_IFREG`).
const S_IFREG: u32 = 0o100_000;
/// A directory (`S_IFDIR`).
const S_IFDIR: u32 = 0o040_000;

/// Opens the zip archive after the checks on its structure.
fn open<R: Read + Seek>(
    mut source: R,
    limits: &Limits,
    failed: &dyn Fn(UploadError) -> UploadError,
) -> Result<ZipArchive<R>, UploadError> {
    let too_many = UploadError::TooManyEntries {
        limit: limits.max_entries,
    };
    let tail = Tail::read(&mut source).map_err(|_| failed(UploadError::InvalidZip))?;
    if tail
        .declared_entries(&mut source)
        .map_err(|_| failed(UploadError::InvalidZip))?
        > limits.max_entries as u64
    {
        return Err(too_many);
    }
    let mut archive = ZipArchive::new(source).map_err(|_| failed(UploadError::InvalidZip))?;
    if archive.len() > limits.max_entries {
        return Err(too_many);
    }
    if archive.offset() != 0 {
        return Err(UploadError::DataBeforeArchive);
    }
    if !tail.end_record_is_unambiguous(archive.comment()) {
        return Err(UploadError::InconsistentZip);
    }
    // The `zip` crate indexes entries by name, so that a repeated name
    // hides an entry from the scan below.
    if archive.has_duplicate_names() {
        return Err(UploadError::DuplicateZipName);
    }
    archive
        .validate_header_consistency()
        .map_err(|_| failed(UploadError::InconsistentZip))?;
    Ok(archive)
}

/// Scans every entry of the zip archive read from `archive`, which is
/// `size` bytes long.
pub(super) fn scan<R: Read + Seek>(
    archive: R,
    size: u64,
    limits: &Limits,
    layout: &mut dyn Layout,
) -> Result<(), UploadError> {
    let failure = Cell::new(None);
    let failed = |fallback: UploadError| failure.take().unwrap_or(fallback);
    let source = Source {
        inner: BufReader::new(archive),
        failure: &failure,
    };
    let mut archive = open(source, limits, &failed)?;
    let mut budget = Budget::new(limits);
    let whole_allowance = limits.ratio_allowance(size);
    let mut total: u64 = 0;
    let mut buffer = vec![0; CHUNK];
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|_| failed(UploadError::InvalidZip))?;
        let raw_name = entry
            .name()
            .map_err(|_| UploadError::InvalidZip)?
            .into_owned();
        let is_dir = entry.is_dir();
        let declared = entry.size();
        let compressed = entry.compressed_size();
        let encrypted = entry.encrypted();
        let method = entry.compression();
        // pip and uv read the type from the top 16 bits whatever system
        // made the archive.
        let file_type = (entry.external_attributes() >> 16) & S_IFMT;
        drop(entry);

        let name = || shown(&raw_name);
        match file_type {
            S_IFLNK => return Err(UploadError::ZipSymlink { name: name() }),
            0 | S_IFREG | S_IFDIR => {}
            _ => return Err(UploadError::UnsupportedEntryType { name: name() }),
        }
        let kind = if is_dir { Kind::Dir } else { Kind::File };
        let path = check_entry(&raw_name, kind, &mut budget)?;
        if encrypted {
            return Err(UploadError::EncryptedEntry { name: name() });
        }
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(UploadError::UnsupportedCompression { name: name() });
        }
        let entry_allowance = limits.ratio_allowance(compressed);
        let over = |size: u64, total: u64| -> Option<UploadError> {
            if size > limits.max_entry_size {
                Some(UploadError::EntryTooLarge {
                    name: name(),
                    limit: limits.max_entry_size,
                })
            } else if total > limits.max_total_size {
                Some(UploadError::TotalTooLarge {
                    limit: limits.max_total_size,
                })
            } else if size > entry_allowance || total > whole_allowance {
                Some(UploadError::CompressionRatio {
                    limit: limits.max_ratio,
                })
            } else {
                None
            }
        };
        // Refuse on the declared size before inflating anything.
        if let Some(error) = over(declared, total.saturating_add(declared)) {
            return Err(error);
        }
        let mut captured = layout.entry(path, !is_dir)?.then(Vec::new);

        let mut file = archive
            .by_index(index)
            .map_err(|_| failed(UploadError::CorruptEntry { name: name() }))?;
        let mut size: u64 = 0;
        loop {
            let n = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return Err(failed(UploadError::CorruptEntry { name: name() })),
            };
            size += n as u64;
            total += n as u64;
            if let Some(error) = over(size, total) {
                return Err(error);
            }
            if let Some(captured) = &mut captured {
                capture_chunk(captured, &buffer[..n])?;
            }
        }
        if size != declared {
            return Err(UploadError::SizeMismatch { name: name() });
        }
        if let Some(captured) = captured {
            layout.capture(captured);
        }
    }
    budget.finish()
}

/// The end of the archive, where the end of central directory records
/// are looked for: the last `EOCD_LEN` + 64 KiB (the longest comment)
/// bytes, and the zip64 locator that may precede the first of them.
pub(super) struct Tail {
    bytes: Vec<u8>,
    /// Offset of `bytes` in the archive.
    start: u64,
    /// Offset in `bytes` from which end records are looked for.
    search_from: usize,
}

impl Tail {
    pub(super) fn read<R: Read + Seek>(reader: &mut R) -> io::Result<Self> {
        let len = reader.seek(SeekFrom::End(0))?;
        let searched = (EOCD_LEN + usize::from(u16::MAX)) as u64;
        let start = len.saturating_sub(searched + ZIP64_LOCATOR_LEN as u64);
        reader.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        let search_from = bytes.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
        Ok(Self {
            bytes,
            start,
            search_from,
        })
    }

    /// The largest entry count declared by any end of central directory
    /// record (and the zip64 record it points to) in the tail. Looking at
    /// every candidate, not just the one a reader would pick, keeps this
    /// check from disagreeing with the `zip` crate about which record counts.
    pub(super) fn declared_entries<R: Read + Seek>(&self, reader: &mut R) -> io::Result<u64> {
        let bytes = &self.bytes;
        let len = self.start + bytes.len() as u64;
        let mut most = 0;
        for at in (self.search_from..bytes.len().saturating_sub(EOCD_LEN - 1)).rev() {
            if bytes[at..at + 4] != EOCD {
                continue;
            }
            most = most.max(u64::from(u16_at(bytes, at + 8).max(u16_at(bytes, at + 10))));
            let Some(locator) = at.checked_sub(ZIP64_LOCATOR_LEN) else {
                continue;
            };
            let record = u64_at(bytes, locator + 8);
            if bytes[locator..locator + 4] != ZIP64_LOCATOR
                || record.checked_add(40).is_none_or(|end| end > len)
            {
                continue;
            }
            let mut zip64 = [0; 40];
            reader.seek(SeekFrom::Start(record))?;
            reader.read_exact(&mut zip64)?;
            if zip64[..4] == ZIP64_EOCD {
                most = most.max(u64_at(&zip64, 24).max(u64_at(&zip64, 32)));
            }
        }
        Ok(most)
    }

    /// Whether the last end of central directory signature in the file
    /// starts a complete record whose comment runs exactly to the end of
    /// the file and is the comment the `zip` crate read. Python's `zipfile`
    /// takes the last signature it finds; this makes sure the `zip` crate
    /// used the same record, so that a second directory hidden in a comment
    /// or after the archive cannot show Python other files than the ones
    /// checked here.
    fn end_record_is_unambiguous(&self, comment: &[u8]) -> bool {
        let bytes = &self.bytes;
        let last = bytes[self.search_from..]
            .windows(EOCD.len())
            .rposition(|window| window == EOCD)
            .map(|at| self.search_from + at);
        let Some(at) = last else {
            return false;
        };
        if at + EOCD_LEN > bytes.len() {
            return false;
        }
        let comment_len = usize::from(u16_at(bytes, at + 20));
        at + EOCD_LEN + comment_len == bytes.len() && &bytes[at + EOCD_LEN..] == comment
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}
