//! Inspection of an uploaded distribution, read from a file (or any
//! seekable reader) in bounded memory, before anything is stored.
//!
//! ```text
//! filename ─▶ DistFilename ─┬─ wheel ───────▶ zipped::scan ─┐   every entry: path checks, the
//!                           ├─ sdist .zip ──▶ zipped::scan ─┤   tree it extracts to (links,
//!                           └─ sdist .tar.gz ▶ tarball::scan ┘   duplicates, case clashes), caps
//!                                                   │            on count, size and ratio
//!                                                   │            while inflating
//!                     Layout: the one METADATA / PKG-INFO, dist-info name
//!                                                   ▼
//!                     CoreMetadata::parse ─▶ name and version = filename's ─▶ Inspected
//! ```
//!
//! Every entry of the archive is inflated (into a small buffer that is
//! thrown away) so that declared sizes cannot lie and a corrupt or truncated
//! archive is refused; inflation stops as soon as any cap in [`Limits`] is
//! exceeded.

mod digests;
mod path;
mod tarball;
mod tree;
mod zipped;

use std::cell::Cell;
use std::io::{self, Read, Seek};

use bulwark_tuf::hash::sha256_hex;

use crate::filename::{DistFilename, DistKind, FilenameError, SdistFormat, stem_matches};
use crate::metadata::{CoreMetadata, MAX_METADATA_SIZE, MetadataError};
use crate::name::ProjectName;
use crate::shown::shown;
use crate::version::Version;

pub use digests::{DigestWriter, Digests};
pub use path::{MAX_PATH_LEN, PathProblem};
pub use tree::{LinkProblem, MAX_TREE_SIZE};

/// Caps on what an upload may expand to. The defaults suit a general index;
/// operators with very large wheels raise them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files, directories, links) in the archive.
    pub max_entries: usize,
    /// Largest uncompressed size of one entry, in bytes.
    pub max_entry_size: u64,
    /// Largest uncompressed size of all entries together (for a `.tar.gz`,
    /// of the whole tar stream), in bytes.
    pub max_total_size: u64,
    /// Largest ratio of uncompressed to compressed size, for each zip entry
    /// and for the archive as a whole.
    pub max_ratio: u64,
    /// Data up to this many uncompressed bytes is never refused for its
    /// ratio, so that small, very compressible files pass.
    pub ratio_threshold: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_entry_size: 2 << 30,
            max_total_size: 4 << 30,
            max_ratio: 200,
            ratio_threshold: 1 << 20,
        }
    }
}

impl Limits {
    /// How many bytes `compressed` bytes may inflate to under the ratio cap.
    fn ratio_allowance(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.max_ratio)
            .max(self.ratio_threshold)
    }
}

/// An upload that passed every check, with what the index stores and serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspected {
    /// The parsed filename.
    pub filename: DistFilename,
    /// The parsed core metadata.
    pub metadata: CoreMetadata,
    /// The exact bytes of `METADATA` (or `PKG-INFO`), served as the PEP 658
    /// `.metadata` file.
    pub metadata_bytes: Vec<u8>,
    /// SHA-256 of the upload, lowercase hex.
    pub sha256: String,
    /// BLAKE2b-256 of the upload, lowercase hex.
    pub blake2b_256: String,
    /// Size of the upload in bytes.
    pub size: u64,
}

impl Inspected {
    /// SHA-256 of the PEP 658 `.metadata` file served beside the upload,
    /// lowercase hex, or `None` when none is served: wheels only, because
    /// an sdist's `PKG-INFO` may be dynamic and installers would trust it
    /// as final. The index records this and the developer signs it, so
    /// this is the one place that decides.
    #[must_use]
    pub fn core_metadata_sha256(&self) -> Option<String> {
        self.filename
            .is_wheel()
            .then(|| sha256_hex(&self.metadata_bytes))
    }
}

/// Why an upload was refused. Entry names come from the archive and are
/// shown quoted and escaped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The upload could not be read from its source: an I/O error of the
    /// file it is read from, not a property of its bytes.
    #[error("the upload cannot be read: {kind}")]
    Read {
        /// What went wrong.
        kind: std::io::ErrorKind,
    },
    /// The filename is not a valid wheel or sdist filename.
    #[error("invalid filename")]
    Filename(#[source] FilenameError),
    /// The zip structure (end of central directory, central directory) cannot be read.
    #[error("not a readable zip archive")]
    InvalidZip,
    /// Local file headers disagree with the central directory, entries
    /// overlap, or a local header is missing from the central directory, so
    /// that different zip readers would see different files.
    #[error("zip local headers do not match the central directory")]
    InconsistentZip,
    /// The zip archive has data before its first entry.
    #[error("zip archive has data before its first entry")]
    DataBeforeArchive,
    /// The gzip stream is corrupt, truncated, or followed by other data.
    #[error("gzip stream is corrupt or truncated")]
    InvalidGzip,
    /// The tar stream is malformed or truncated.
    #[error("tar archive is malformed or truncated")]
    InvalidTar,
    /// Non-zero data follows the end of the tar archive.
    #[error("data follows the end of the tar archive")]
    TrailingData,
    /// A tar extension header (pax or GNU long name) is oversized, malformed,
    /// repeated, or says something the other headers contradict.
    #[error("bad tar extension header")]
    BadExtensionHeader,
    /// An entry's data cannot be read: truncated, a bad deflate stream or a
    /// CRC mismatch.
    #[error("entry {name} is corrupt or truncated")]
    CorruptEntry {
        /// The entry name.
        name: String,
    },
    /// An entry inflated to a different size than its header declares.
    #[error("entry {name} does not have the size its header declares")]
    SizeMismatch {
        /// The entry name.
        name: String,
    },
    /// An entry is encrypted.
    #[error("entry {name} is encrypted")]
    EncryptedEntry {
        /// The entry name.
        name: String,
    },
    /// An entry uses a compression method other than stored or deflate.
    #[error("entry {name} uses an unsupported compression method")]
    UnsupportedCompression {
        /// The entry name.
        name: String,
    },
    /// A tar entry that is not a file, directory or link (device, FIFO,
    /// sparse …), or a zip entry whose Unix mode is such a type.
    #[error("entry {name} has an unsupported type")]
    UnsupportedEntryType {
        /// The entry name.
        name: String,
    },
    /// A tar directory or link has data. The `tar` crate skips it, but
    /// Python's `tarfile` skips data only after a regular file and reads
    /// it as further members, so the two see different archives.
    #[error("entry {name} is a directory or link with data; tar readers disagree on it")]
    NonFileWithData {
        /// The entry name.
        name: String,
    },
    /// A tar regular file whose header name ends in `/`, which Python's
    /// `tarfile` takes for a directory (an old-style `\0` type) and so
    /// reads its data as further members.
    #[error("entry {name} is a file with a directory's name; tar readers disagree on it")]
    FileNamedLikeDirectory {
        /// The entry name.
        name: String,
    },
    /// An entry path is unsafe.
    #[error("entry {name} has an unsafe path: {problem}")]
    UnsafePath {
        /// The entry name.
        name: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// A tar link is malformed or resolves outside the archive (PEP 706
    /// `data` filter, and stricter).
    #[error("link {name} is unsafe: {problem}")]
    UnsafeLink {
        /// The link's entry name.
        name: String,
        /// What is wrong with it.
        problem: LinkProblem,
    },
    /// A zip entry is a symbolic link (Unix mode `S_IFLNK` in its external
    /// attributes), which pip and uv would create on extraction.
    #[error("entry {name} is a symbolic link")]
    ZipSymlink {
        /// The entry name.
        name: String,
    },
    /// A zip central directory lists a name twice.
    #[error("zip archive lists an entry name twice")]
    DuplicateZipName,
    /// An entry would be written through a symbolic link extracted before
    /// it.
    #[error("entry {name} is written through the link {link}")]
    WrittenThroughLink {
        /// The entry name.
        name: String,
        /// The link.
        link: String,
    },
    /// An entry would be written inside an earlier entry that is a file.
    #[error("entry {name} is inside {parent}, which is not a directory")]
    ParentNotDirectory {
        /// The entry name.
        name: String,
        /// The file it would be inside.
        parent: String,
    },
    /// Two entries land on the same path (directories may repeat).
    #[error("archive has two entries at the path {name}")]
    DuplicateEntry {
        /// The path.
        name: String,
    },
    /// Two paths differ only in case or Unicode normalization form (NFC,
    /// NFD), so that macOS or Windows file systems would extract one over
    /// the other.
    #[error("entries {first} and {second} differ only in case or normalization form")]
    CaseClash {
        /// The earlier path.
        first: String,
        /// The later entry.
        second: String,
    },
    /// The archive's names take more than [`MAX_TREE_SIZE`] bytes to index.
    #[error("archive entry names take more than {limit} bytes to index")]
    TreeTooLarge {
        /// The limit.
        limit: u64,
    },
    /// More entries than [`Limits::max_entries`].
    #[error("archive has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// An entry is larger than [`Limits::max_entry_size`].
    #[error("entry {name} is larger than {limit} bytes")]
    EntryTooLarge {
        /// The entry name.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// The archive inflates to more than [`Limits::max_total_size`].
    #[error("archive contents are larger than {limit} bytes")]
    TotalTooLarge {
        /// The limit.
        limit: u64,
    },
    /// An entry, or the archive as a whole, inflates more than
    /// [`Limits::max_ratio`] times its compressed size.
    #[error("archive data expands more than {limit} times its compressed size")]
    CompressionRatio {
        /// The limit.
        limit: u64,
    },
    /// The wheel has more than one top-level `.dist-info` directory.
    #[error("wheel has more than one .dist-info directory")]
    MultipleDistInfo,
    /// The wheel has no top-level `.dist-info` directory.
    #[error("wheel has no .dist-info directory")]
    MissingDistInfo,
    /// The `.dist-info` directory is not named after the filename's project
    /// and version.
    #[error("wheel's .dist-info directory {found} does not match the filename")]
    DistInfoMismatch {
        /// The directory name.
        found: String,
    },
    /// The wheel's `.dist-info` has no `WHEEL` file.
    #[error("wheel's .dist-info directory has no WHEEL file")]
    MissingWheelFile,
    /// No `METADATA` (wheel) or `{name}-{version}/PKG-INFO` (sdist).
    #[error("no core metadata file (.dist-info/METADATA or {{name}}-{{version}}/PKG-INFO) found")]
    MissingMetadata,
    /// The sdist's only top-level `PKG-INFO` is in a directory not named
    /// after the filename's project and version.
    #[error("sdist's top-level directory {found} does not match the filename")]
    SdistDirMismatch {
        /// The directory name.
        found: String,
    },
    /// More than one core metadata file qualifies.
    #[error("more than one core metadata file found")]
    MultipleMetadata,
    /// The metadata entry is a directory or a link, not a file.
    #[error("core metadata entry is not a regular file")]
    MetadataNotFile,
    /// The metadata file is larger than [`MAX_METADATA_SIZE`].
    #[error("core metadata file is larger than {MAX_METADATA_SIZE} bytes")]
    MetadataTooLarge,
    /// The metadata file is invalid.
    #[error("invalid core metadata")]
    Metadata(#[source] MetadataError),
    /// The metadata names a different project than the filename.
    #[error("metadata name {metadata} does not match filename name {filename}")]
    NameMismatch {
        /// Normalized name from the filename.
        filename: String,
        /// Normalized name from the metadata.
        metadata: String,
    },
    /// The metadata has a different version than the filename.
    #[error("metadata version {metadata} does not match filename version {filename}")]
    VersionMismatch {
        /// Normalized version from the filename.
        filename: String,
        /// Normalized version from the metadata.
        metadata: String,
    },
}

/// Parses the filename and checks the archive read from `archive` (from its
/// start) and its metadata. `digests` must be those of the same bytes, as
/// computed by the caller while it wrote them (see [`DigestWriter`]); the
/// size in it bounds the compression ratio. Nothing is returned unless
/// every check passed.
pub fn inspect<R: Read + Seek>(
    filename: &str,
    mut archive: R,
    digests: Digests,
    limits: &Limits,
) -> Result<Inspected, UploadError> {
    let filename = DistFilename::parse(filename).map_err(UploadError::Filename)?;
    archive
        .rewind()
        .map_err(|e| UploadError::Read { kind: e.kind() })?;
    let metadata_bytes = match filename.kind() {
        DistKind::Wheel(_) => {
            let mut layout = WheelLayout::new(filename.name(), filename.version());
            zipped::scan(archive, digests.size, limits, &mut layout)?;
            layout.finish()?
        }
        DistKind::Sdist(format) => {
            let mut layout = SdistLayout::new(filename.name(), filename.version());
            match format {
                SdistFormat::TarGz => tarball::scan(archive, digests.size, limits, &mut layout)?,
                SdistFormat::Zip => zipped::scan(archive, digests.size, limits, &mut layout)?,
            }
            layout.finish()?
        }
    };
    let metadata = CoreMetadata::parse(&metadata_bytes).map_err(UploadError::Metadata)?;
    if metadata.name() != filename.name() {
        return Err(UploadError::NameMismatch {
            filename: filename.name().normalized().to_owned(),
            metadata: metadata.name().normalized().to_owned(),
        });
    }
    if metadata.version() != filename.version() {
        return Err(UploadError::VersionMismatch {
            filename: filename.version().to_string(),
            metadata: metadata.version().to_string(),
        });
    }
    Ok(Inspected {
        sha256: digests.sha256,
        blake2b_256: digests.blake2b_256,
        size: digests.size,
        filename,
        metadata,
        metadata_bytes,
    })
}

/// [`inspect`] for an upload held in memory.
pub fn inspect_bytes(
    filename: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Inspected, UploadError> {
    inspect(
        filename,
        std::io::Cursor::new(bytes),
        Digests::of(bytes),
        limits,
    )
}

/// What a distribution format requires of its entries; told about every
/// entry by the archive scanners.
trait Layout {
    /// Called for every entry whose path passed the checks. Returns whether
    /// the entry's content is wanted (the metadata file).
    fn entry(&mut self, path: &str, is_file: bool) -> Result<bool, UploadError>;

    /// The content of the entry last wanted.
    fn capture(&mut self, data: Vec<u8>);
}

/// A wheel: exactly one top-level `{name}-{version}.dist-info` directory,
/// holding `METADATA` and `WHEEL`.
struct WheelLayout<'a> {
    name: &'a ProjectName,
    version: &'a Version,
    dist_info: Option<String>,
    has_wheel_file: bool,
    metadata: Option<Vec<u8>>,
    metadata_seen: bool,
}

impl<'a> WheelLayout<'a> {
    fn new(name: &'a ProjectName, version: &'a Version) -> Self {
        Self {
            name,
            version,
            dist_info: None,
            has_wheel_file: false,
            metadata: None,
            metadata_seen: false,
        }
    }

    fn finish(self) -> Result<Vec<u8>, UploadError> {
        let dist_info = self.dist_info.ok_or(UploadError::MissingDistInfo)?;
        let stem = dist_info.strip_suffix(".dist-info").unwrap_or(&dist_info);
        if !stem_matches(stem, self.name, self.version) {
            return Err(UploadError::DistInfoMismatch {
                found: shown(&dist_info),
            });
        }
        let metadata = self.metadata.ok_or(UploadError::MissingMetadata)?;
        if !self.has_wheel_file {
            return Err(UploadError::MissingWheelFile);
        }
        Ok(metadata)
    }
}

impl Layout for WheelLayout<'_> {
    fn entry(&mut self, path: &str, is_file: bool) -> Result<bool, UploadError> {
        // Every entry's first component counts, directory entries included,
        // as pip counts them when it looks for the one `.dist-info`.
        let (top, rest) = path.split_once('/').unwrap_or((path, ""));
        if !top.ends_with(".dist-info") {
            return Ok(false);
        }
        match &self.dist_info {
            Some(seen) if seen != top => return Err(UploadError::MultipleDistInfo),
            Some(_) => {}
            None => self.dist_info = Some(top.to_owned()),
        }
        match rest {
            "METADATA" => {
                if !is_file {
                    return Err(UploadError::MetadataNotFile);
                }
                if std::mem::replace(&mut self.metadata_seen, true) {
                    return Err(UploadError::MultipleMetadata);
                }
                Ok(true)
            }
            "WHEEL" => {
                self.has_wheel_file |= is_file;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    fn capture(&mut self, data: Vec<u8>) {
        self.metadata = Some(data);
    }
}

/// An sdist: exactly one `{name}-{version}/PKG-INFO`, the directory spelled
/// in any way that normalizes to the filename's name and version. Other
/// entries may be anywhere (safe paths only).
struct SdistLayout<'a> {
    name: &'a ProjectName,
    version: &'a Version,
    metadata: Option<Vec<u8>>,
    metadata_seen: bool,
    other_top: Option<String>,
}

impl<'a> SdistLayout<'a> {
    fn new(name: &'a ProjectName, version: &'a Version) -> Self {
        Self {
            name,
            version,
            metadata: None,
            metadata_seen: false,
            other_top: None,
        }
    }

    fn finish(self) -> Result<Vec<u8>, UploadError> {
        match (self.metadata, self.other_top) {
            (Some(metadata), _) => Ok(metadata),
            (None, Some(found)) => Err(UploadError::SdistDirMismatch {
                found: shown(&found),
            }),
            (None, None) => Err(UploadError::MissingMetadata),
        }
    }
}

impl Layout for SdistLayout<'_> {
    fn entry(&mut self, path: &str, is_file: bool) -> Result<bool, UploadError> {
        let Some((top, "PKG-INFO")) = path.split_once('/') else {
            return Ok(false);
        };
        if !stem_matches(top, self.name, self.version) {
            if self.other_top.is_none() {
                self.other_top = Some(top.to_owned());
            }
            return Ok(false);
        }
        if !is_file {
            return Err(UploadError::MetadataNotFile);
        }
        if std::mem::replace(&mut self.metadata_seen, true) {
            return Err(UploadError::MultipleMetadata);
        }
        Ok(true)
    }

    fn capture(&mut self, data: Vec<u8>) {
        self.metadata = Some(data);
    }
}

/// Running totals shared by the scanners, and the tree the entries
/// extract to.
struct Budget<'a> {
    limits: &'a Limits,
    entries: usize,
    tree: tree::Tree,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a Limits) -> Self {
        Self {
            limits,
            entries: 0,
            tree: tree::Tree::new(),
        }
    }

    /// Checks the links once the whole archive is in the tree.
    fn finish(mut self) -> Result<(), UploadError> {
        self.tree.finish()
    }
}

/// Checks an entry path (a directory's trailing `/` removed), counts the
/// entry and adds it to the tree; returns the path without the trailing
/// `/`.
fn check_entry<'p>(
    raw: &'p str,
    kind: tree::Kind<'_>,
    budget: &mut Budget<'_>,
) -> Result<&'p str, UploadError> {
    let path = match kind {
        tree::Kind::Dir => raw.strip_suffix('/').unwrap_or(raw),
        _ => raw,
    };
    path::check(path).map_err(|problem| UploadError::UnsafePath {
        name: shown(raw),
        problem,
    })?;
    budget.entries += 1;
    if budget.entries > budget.limits.max_entries {
        return Err(UploadError::TooManyEntries {
            limit: budget.limits.max_entries,
        });
    }
    budget.tree.add(path, kind)?;
    Ok(path)
}

/// The upload's reader. It leaves the kind of an I/O error in `failure`,
/// since the `tar` and `zip` crates wrap such errors or replace them with
/// their own, so that a read error is not reported as a corrupt archive.
struct Source<'a, R> {
    inner: R,
    failure: &'a Cell<Option<UploadError>>,
}

impl<R> Source<'_, R> {
    fn note(&self, error: io::Error) -> io::Error {
        self.failure
            .set(Some(UploadError::Read { kind: error.kind() }));
        error
    }
}

impl<R: Read> Read for Source<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| self.note(e))
    }
}

impl<R: Seek> Seek for Source<'_, R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos).map_err(|e| self.note(e))
    }
}

/// Collects the content of the metadata entry, refusing more than
/// [`MAX_METADATA_SIZE`] bytes.
fn capture_chunk(captured: &mut Vec<u8>, chunk: &[u8]) -> Result<(), UploadError> {
    if captured.len() + chunk.len() > MAX_METADATA_SIZE {
        return Err(UploadError::MetadataTooLarge);
    }
    captured.extend_from_slice(chunk);
    Ok(())
}

#[cfg(test)]
mod tests;
