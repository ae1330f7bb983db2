//! Zip archives (wheels and legacy `.zip` sdists).
//!
//! Before the `zip` crate builds its index of the central directory, the
//! entry counts declared by every end-of-central-directory record in the
//! tail are checked against the cap, so a small archive cannot make it
//! allocate for millions of entries. The end record must be the one
//! Python's `zipfile` would pick, the local headers must agree with the
//! central directory (streaming readers, such as uv's, read the former;
//! `zipfile` and pip read the latter), and every entry is inflated with its
//! declared and actual sizes checked against the caps.

use std::io::{Cursor, Read};

use zip::{CompressionMethod, ZipArchive};

use super::{Budget, Layout, Limits, UploadError, capture_chunk, check_entry};
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

/// Opens the zip archive `bytes` after the checks on its structure.
fn open<'b>(bytes: &'b [u8], limits: &Limits) -> Result<ZipArchive<Cursor<&'b [u8]>>, UploadError> {
    let too_many = UploadError::TooManyEntries {
        limit: limits.max_entries,
    };
    if declared_entries(bytes) > limits.max_entries as u64 {
        return Err(too_many);
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|_| UploadError::InvalidZip)?;
    if archive.len() > limits.max_entries {
        return Err(too_many);
    }
    if archive.offset() != 0 {
        return Err(UploadError::DataBeforeArchive);
    }
    if !end_record_is_unambiguous(bytes, archive.comment()) {
        return Err(UploadError::InconsistentZip);
    }
    if archive.has_duplicate_names() {
        return Err(UploadError::DuplicateEntry);
    }
    archive
        .validate_header_consistency()
        .map_err(|_| UploadError::InconsistentZip)?;
    Ok(archive)
}

/// Scans every entry of the zip archive `bytes`.
pub(super) fn scan(
    bytes: &[u8],
    limits: &Limits,
    layout: &mut dyn Layout,
) -> Result<(), UploadError> {
    let mut archive = open(bytes, limits)?;
    let mut budget = Budget::new(limits);
    let whole_allowance = limits.ratio_allowance(bytes.len() as u64);
    let mut total: u64 = 0;
    let mut buffer = vec![0; CHUNK];
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|_| UploadError::InvalidZip)?;
        let raw_name = entry
            .name()
            .map_err(|_| UploadError::InvalidZip)?
            .into_owned();
        let is_dir = entry.is_dir();
        let declared = entry.size();
        let compressed = entry.compressed_size();
        let encrypted = entry.encrypted();
        let method = entry.compression();
        drop(entry);

        let path = check_entry(&raw_name, is_dir, &mut budget)?;
        let name = || shown(&raw_name);
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
            .map_err(|_| UploadError::CorruptEntry { name: name() })?;
        let mut size: u64 = 0;
        loop {
            let n = match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return Err(UploadError::CorruptEntry { name: name() }),
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
    Ok(())
}

/// The largest entry count declared by any end of central directory record
/// (and the zip64 record it points to) in the last 64 KiB of `bytes`.
/// Looking at every candidate, not just the one a reader would pick, keeps
/// this check from disagreeing with the `zip` crate about which record counts.
pub(super) fn declared_entries(bytes: &[u8]) -> u64 {
    let tail_start = bytes.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
    let mut most = 0;
    for at in (tail_start..bytes.len().saturating_sub(EOCD_LEN - 1)).rev() {
        if bytes[at..at + 4] != EOCD {
            continue;
        }
        most = most.max(u64::from(u16_at(bytes, at + 8).max(u16_at(bytes, at + 10))));
        if let Some(locator) = at.checked_sub(ZIP64_LOCATOR_LEN)
            && bytes[locator..locator + 4] == ZIP64_LOCATOR
            && let Ok(record) = usize::try_from(u64_at(bytes, locator + 8))
            && let Some(end) = record.checked_add(40)
            && end <= bytes.len()
            && bytes[record..record + 4] == ZIP64_EOCD
        {
            most = most.max(u64_at(bytes, record + 24).max(u64_at(bytes, record + 32)));
        }
    }
    most
}

/// Whether the last end of central directory signature in the file starts
/// a complete record whose comment runs exactly to the end of the file and
/// is the comment the `zip` crate read. Python's `zipfile` takes the last
/// signature it finds; this makes sure the `zip` crate used the same
/// record, so that a second directory hidden in a comment or after the
/// archive cannot show Python other files than the ones checked here.
fn end_record_is_unambiguous(bytes: &[u8], comment: &[u8]) -> bool {
    let tail_start = bytes.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
    let last = bytes[tail_start..]
        .windows(EOCD.len())
        .rposition(|window| window == EOCD)
        .map(|at| tail_start + at);
    let Some(at) = last else {
        return false;
    };
    if at + EOCD_LEN > bytes.len() {
        return false;
    }
    let comment_len = usize::from(u16_at(bytes, at + 20));
    at + EOCD_LEN + comment_len == bytes.len() && &bytes[at + EOCD_LEN..] == comment
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}
