//! Gzip-compressed tar archives (`.tar.gz` sdists).
//!
//! The tar stream is read in raw mode: pax and GNU extension headers are
//! handled here rather than inside the `tar` crate, so that their size is
//! capped before they are read into memory and so that the ambiguities on
//! which tar readers disagree (a pax `size` that contradicts the header, a
//! long name given twice, a global header that renames later members) are
//! refused instead of resolved one way. Every decompressed byte passes
//! through [`Capped`], which stops the stream as soon as a cap is exceeded.
//! After the end-of-archive marker only zero padding may follow, and the
//! gzip stream must end exactly at the end of the upload. Every member
//! goes into the [`Tree`](super::tree) the archive extracts to, which
//! judges links by where they resolve. A directory or link with data, or
//! a file whose header name ends in `/`, is refused: Python's `tarfile`
//! would read that data as members of its own.

use std::cell::Cell;
use std::io::{self, BufReader, Read};

use flate2::bufread::MultiGzDecoder;
use tar::EntryType;

use super::tree::{Kind, LinkProblem};
use super::{Budget, Layout, Limits, Source, UploadError, capture_chunk, check_entry, path};
use crate::shown::shown;

/// Largest pax or GNU extension header accepted, in bytes. Real ones hold a
/// path or two.
const MAX_EXTENSION: u64 = 64 * 1024;

/// Extension headers waiting for the member they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
    pax_size: Option<u64>,
    pax_seen: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && !self.pax_seen
    }
}

/// Scans every entry of the `.tar.gz` archive read from `archive`, which
/// is `size` bytes long.
pub(super) fn scan<R: Read>(
    archive: R,
    size: u64,
    limits: &Limits,
    layout: &mut dyn Layout,
) -> Result<(), UploadError> {
    let failure = Cell::new(None);
    let source = Source {
        inner: archive,
        failure: &failure,
    };
    let reader = Capped {
        inner: MultiGzDecoder::new(BufReader::new(source)),
        total: 0,
        max_total: limits.max_total_size,
        ratio_allowance: limits.ratio_allowance(size),
        max_ratio: limits.max_ratio,
        failure: &failure,
    };
    let stream_error = |fallback: UploadError| failure.take().unwrap_or(fallback);

    let mut archive = tar::Archive::new(reader);
    let mut budget = Budget::new(limits);
    let mut pending = Pending::default();
    {
        let entries = archive
            .entries()
            .map_err(|_| stream_error(UploadError::InvalidTar))?
            .raw(true);
        for entry in entries {
            let mut entry = entry.map_err(|_| stream_error(UploadError::InvalidTar))?;
            let entry_type = entry.header().entry_type();
            let header_size = entry.size();
            match entry_type {
                EntryType::XHeader => {
                    if pending.pax_seen {
                        return Err(UploadError::BadExtensionHeader);
                    }
                    let data = read_extension(&mut entry, header_size, &failure)?;
                    read_pax(&data, &mut pending, false)?;
                    pending.pax_seen = true;
                }
                EntryType::XGlobalHeader => {
                    // Only informational keys (git archive writes `comment`)
                    // are allowed: Python's tarfile applies a global `path`
                    // or `size` to every later member.
                    let data = read_extension(&mut entry, header_size, &failure)?;
                    read_pax(&data, &mut Pending::default(), true)?;
                }
                EntryType::GNULongName | EntryType::GNULongLink => {
                    let data = read_extension(&mut entry, header_size, &failure)?;
                    let slot = if entry_type == EntryType::GNULongName {
                        &mut pending.long_name
                    } else {
                        &mut pending.long_link
                    };
                    if slot.is_some() {
                        return Err(UploadError::BadExtensionHeader);
                    }
                    *slot = Some(strip_trailing_nuls(data));
                }
                _ => {
                    let member = std::mem::take(&mut pending);
                    member_entry(
                        &mut entry,
                        entry_type,
                        header_size,
                        member,
                        limits,
                        &mut budget,
                        layout,
                        &failure,
                    )?;
                }
            }
        }
    }
    if !pending.is_empty() {
        return Err(UploadError::BadExtensionHeader);
    }
    budget.finish()?;

    // After the end-of-archive marker: zero padding, then the end of the
    // gzip stream (whose CRC is checked on the way).
    let mut rest = archive.into_inner();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = rest
            .read(&mut buffer)
            .map_err(|_| failure.take().unwrap_or(UploadError::InvalidGzip))?;
        if n == 0 {
            return Ok(());
        }
        if buffer[..n].iter().any(|&b| b != 0) {
            return Err(UploadError::TrailingData);
        }
    }
}

/// Checks one member (file, directory or link) and captures its content if
/// the layout wants it.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename the arguments"
)]
fn member_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    entry_type: EntryType,
    header_size: u64,
    pending: Pending,
    limits: &Limits,
    budget: &mut Budget<'_>,
    layout: &mut dyn Layout,
    failure: &Cell<Option<UploadError>>,
) -> Result<(), UploadError> {
    if pending.pax_path.is_some() && pending.long_name.is_some()
        || pending.pax_link.is_some() && pending.long_link.is_some()
        || pending.pax_size.is_some_and(|size| size != header_size)
    {
        return Err(UploadError::BadExtensionHeader);
    }
    let raw_path = pending
        .pax_path
        .or(pending.long_name)
        .unwrap_or_else(|| entry.path_bytes().into_owned());
    let raw_path = String::from_utf8(raw_path).map_err(|e| UploadError::UnsafePath {
        name: shown(&String::from_utf8_lossy(e.as_bytes())),
        problem: path::PathProblem::NotUtf8,
    })?;
    let name = || shown(&raw_path);
    // PEP 706: the `data` filter refuses special files (`SpecialFileError`).
    let target = match entry_type {
        EntryType::Regular | EntryType::Continuous | EntryType::Directory => String::new(),
        EntryType::Symlink | EntryType::Link => {
            let target = pending
                .pax_link
                .or(pending.long_link)
                .or_else(|| entry.link_name_bytes().map(std::borrow::Cow::into_owned))
                .unwrap_or_default();
            String::from_utf8(target).map_err(|_| UploadError::UnsafeLink {
                name: name(),
                problem: LinkProblem::Malformed,
            })?
        }
        _ => return Err(UploadError::UnsupportedEntryType { name: name() }),
    };
    // The `tar` crate skips `size` bytes of data after every header;
    // Python's `tarfile` skips them only after a regular file, and takes
    // an old-style (type `\0`) file whose header name ends in `/` for a
    // directory. Either way, data it does not skip it reads as further
    // members, which the checks here would never see.
    let regular = matches!(entry_type, EntryType::Regular | EntryType::Continuous);
    if !regular && header_size != 0 {
        return Err(UploadError::NonFileWithData { name: name() });
    }
    if regular && header_name(entry.header()).ends_with(b"/") {
        return Err(UploadError::FileNamedLikeDirectory { name: name() });
    }
    let kind = match entry_type {
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink(&target),
        EntryType::Link => Kind::HardLink(&target),
        _ => Kind::File,
    };
    let path = check_entry(&raw_path, kind, budget)?;
    let is_file = matches!(kind, Kind::File);
    if header_size > limits.max_entry_size {
        return Err(UploadError::EntryTooLarge {
            name: name(),
            limit: limits.max_entry_size,
        });
    }
    if layout.entry(path, is_file)? {
        let mut captured = Vec::new();
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = entry
                .read(&mut buffer)
                .map_err(|_| failure.take().unwrap_or(UploadError::InvalidTar))?;
            if n == 0 {
                break;
            }
            capture_chunk(&mut captured, &buffer[..n])?;
        }
        if captured.len() as u64 != header_size {
            return Err(UploadError::InvalidTar);
        }
        layout.capture(captured);
    }
    // Unread data is skipped (and so inflated, counted and capped) by the
    // `tar` crate when the next entry is read.
    Ok(())
}

/// The name field of a header as Python's `tarfile` reads it (up to the
/// first NUL), without the ustar prefix or any extension header.
fn header_name(header: &tar::Header) -> &[u8] {
    let name = &header.as_old().name;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    &name[..end]
}

/// Reads an extension header's data, refusing oversized ones before reading.
fn read_extension<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    size: u64,
    failure: &Cell<Option<UploadError>>,
) -> Result<Vec<u8>, UploadError> {
    if size > MAX_EXTENSION {
        return Err(UploadError::BadExtensionHeader);
    }
    let mut data = Vec::new();
    entry
        .read_to_end(&mut data)
        .map_err(|_| failure.take().unwrap_or(UploadError::InvalidTar))?;
    if data.len() as u64 != size {
        return Err(UploadError::InvalidTar);
    }
    Ok(data)
}

/// Reads pax records into `pending`. Records must be well formed and keys
/// unique; sparse-file keys are refused, and in a global header so are the
/// keys that would rename or resize later members.
fn read_pax(data: &[u8], pending: &mut Pending, global: bool) -> Result<(), UploadError> {
    let mut keys = std::collections::HashSet::new();
    for record in tar::PaxExtensions::new(data) {
        let record = record.map_err(|_| UploadError::BadExtensionHeader)?;
        let key = record.key().map_err(|_| UploadError::BadExtensionHeader)?;
        if !keys.insert(key) || key.starts_with("GNU.sparse") {
            return Err(UploadError::BadExtensionHeader);
        }
        let value = record.value_bytes();
        match key {
            "path" | "linkpath" | "size" if global => return Err(UploadError::BadExtensionHeader),
            "path" => pending.pax_path = Some(value.to_vec()),
            "linkpath" => pending.pax_link = Some(value.to_vec()),
            "size" => {
                let size = std::str::from_utf8(value)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse().ok())
                    .ok_or(UploadError::BadExtensionHeader)?;
                pending.pax_size = Some(size);
            }
            _ => {}
        }
    }
    Ok(())
}

/// GNU long names are NUL-terminated; interior NULs are left for the path
/// check to refuse.
fn strip_trailing_nuls(mut data: Vec<u8>) -> Vec<u8> {
    while data.last() == Some(&0) {
        data.pop();
    }
    data
}

/// A reader that counts decompressed bytes and fails as soon as the total
/// cap or the ratio cap is exceeded, leaving the reason in `failure` (the
/// `tar` crate wraps I/O errors, so the reason cannot travel inside them).
struct Capped<'a, R> {
    inner: R,
    total: u64,
    max_total: u64,
    ratio_allowance: u64,
    max_ratio: u64,
    failure: &'a Cell<Option<UploadError>>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| {
            // A read error of the source, if that is what failed, stays.
            let earlier = self.failure.take();
            self.failure.set(earlier.or(Some(UploadError::InvalidGzip)));
        })?;
        self.total += n as u64;
        let exceeded = if self.total > self.max_total {
            Some(UploadError::TotalTooLarge {
                limit: self.max_total,
            })
        } else if self.total > self.ratio_allowance {
            Some(UploadError::CompressionRatio {
                limit: self.max_ratio,
            })
        } else {
            None
        };
        if let Some(error) = exceeded {
            self.failure.set(Some(error));
            return Err(io::Error::other("decompression cap exceeded"));
        }
        Ok(n)
    }
}
