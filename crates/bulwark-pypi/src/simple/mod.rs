//! The simple repository API pages: PEP 691 JSON (with PEP 700's
//! `versions`, `size` and `upload-time`, API version 1.1) and PEP 503 HTML,
//! for one project and for the index of projects.
//!
//! The JSON project page is a signed TUF target (DESIGN §2), so
//! [`render_json`] is deterministic: files sorted by filename, object keys
//! sorted, no whitespace, strings escaped per RFC 8259 with every control
//! character written as `\u00XX`. [`ProjectPage::parse_json`] reads such a
//! page back (for the verifying proxy); rendering what it returns gives the
//! same bytes.
//!
//! Each file lists `hashes: {"sha256": …}` and, beside it, the private key
//! `_blake2b_256` (PEP 691 reserves `_` keys for the index). BLAKE2b-256 is
//! not in `hashes` because pip verifies the *first* key of `hashes` through
//! `hashlib.new(name)`, which has no `blake2b_256`: with sorted keys every
//! pip install would fail (`Unknown hash name: blake2b_256`, pip 23.2 and
//! 26.3 alike). uv ignores the private key.
//!
//! ```text
//! ProjectPage ─┬─ render_json ─▶ bytes (signed) ─▶ ProjectPage::parse_json ─▶ ProjectPage
//!              └─ render_html ─▶ text (unsigned, for older clients)
//! ```

mod html;
mod json;
mod parse;
mod time;

pub use html::{render_html, render_index_html};
pub use json::{render_index_json, render_json};
pub use parse::PageError;
pub use time::UploadTime;

use crate::filename::DistFilename;
use crate::name::ProjectName;

/// The simple API version these pages declare.
pub const API_VERSION: &str = "1.1";

/// The most bytes a reader of a page accepts for a file listed without a
/// size (only files pulled from an upstream index that stated none):
/// 4 GiB, above the largest files `PyPI` accepts.
pub const MAX_UNSTATED_FILE_SIZE: u64 = 1 << 32;

/// One project's page: its name and every file it lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectPage {
    /// The project.
    pub name: ProjectName,
    /// The files, in any order; pages list them sorted by filename. Each
    /// should belong to `name`, and filenames should be unique.
    pub files: Vec<PageFile>,
}

/// One file on a project page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageFile {
    /// The distribution filename.
    pub filename: DistFilename,
    /// Where to fetch the file, relative to the page (DESIGN §2: relative
    /// URLs keep the signed page valid on every mirror).
    pub url: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// BLAKE2b-256 of the file, lowercase hex; `None` for a file pulled
    /// from an upstream index that did not state it (the signed page then
    /// vouches for the upstream's sha256 alone).
    pub blake2b_256: Option<String>,
    /// Size in bytes; `None` for an upstream file whose upstream did not
    /// state it (PEP 503 HTML pages carry no size).
    pub size: Option<u64>,
    /// The release's `Requires-Python`, if any.
    pub requires_python: Option<String>,
    /// `None` if not yanked; `Some("")` if yanked without a reason;
    /// otherwise the reason.
    pub yanked: Option<String>,
    /// SHA-256 of the PEP 658 `.metadata` file, if one is served.
    pub core_metadata_sha256: Option<String>,
    /// When the file was uploaded.
    pub upload_time: UploadTime,
}

impl ProjectPage {
    /// The files sorted by filename (stable, so equal filenames keep their order).
    #[must_use]
    pub fn sorted_files(&self) -> Vec<&PageFile> {
        let mut files: Vec<&PageFile> = self.files.iter().collect();
        files.sort_by(|a, b| a.filename.as_str().cmp(b.filename.as_str()));
        files
    }

    /// The normalized versions of the files, unique by string and sorted by
    /// PEP 440 (ties, such as `1.0` and `1.0.0`, by string).
    #[must_use]
    pub fn versions(&self) -> Vec<String> {
        let mut versions: Vec<_> = self
            .files
            .iter()
            .map(|f| (f.filename.version(), f.filename.version().to_string()))
            .collect();
        versions.sort();
        versions.dedup_by(|a, b| a.1 == b.1);
        versions.into_iter().map(|(_, s)| s).collect()
    }
}

#[cfg(test)]
mod tests;
