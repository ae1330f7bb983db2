//! Python packaging knowledge for Bulwark, pure: no network, no
//! filesystem, no clock, no async. Bytes and strings go in; typed values or
//! typed refusals come out.
//!
//! What it owns:
//!
//! - [`ProjectName`] — the core metadata name rule and PEP 503 normalization;
//! - [`Version`] — PEP 440 versions (via `pep440_rs`);
//! - [`DistFilename`] — wheel and sdist filenames;
//! - [`CoreMetadata`] — `METADATA` / `PKG-INFO`;
//! - [`inspect`] — everything checked about an upload before it is stored,
//!   read from a file with the [`Digests`] its writer computed;
//! - [`ProjectPage`] and the `render_*` functions — the simple API pages,
//!   the JSON one byte-for-byte deterministic because it is a signed TUF
//!   target (DESIGN §2), and [`ProjectPage::parse_json`] to read it back;
//! - [`json_api`] — `PyPI`'s JSON API documents, built from a [`ProjectPage`].
//!
//! What it does not: HTTP, storage, upload policy (who may upload what,
//! whether local versions or re-uploads are allowed), signing.
//!
//! ```text
//! upload file + filename + Digests ─▶ inspect ─▶ Inspected { filename, metadata, metadata_bytes, hashes }
//!                                              │ (the server stores it, then)
//!                                              ▼
//!                       ProjectPage { name, files } ─▶ render_json ─▶ signed target bytes
//!                                                   └▶ render_html ─▶ page for older clients
//! signed target bytes (verified by TUF) ─▶ ProjectPage::parse_json ─▶ ProjectPage (proxy)
//! ProjectPage + CoreMetadata ─▶ json_api::JsonApi ─▶ /pypi/<name>/json document
//! ```

mod filename;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod json_api;
mod metadata;
mod name;
mod shown;
mod simple;
mod upload;
pub mod upstream;
mod version;

pub use filename::{
    BuildTag, DistFilename, DistKind, FilenameError, MAX_FILENAME_LEN, SdistFormat, WheelTags,
};
pub use metadata::{
    CoreMetadata, MAX_HEADERS, MAX_METADATA_SIZE, MAX_REQUIRES_PYTHON_LEN, MetadataError,
};
pub use name::{MAX_NAME_LEN, NameError, ProjectName};
pub use simple::{
    API_VERSION, MAX_UNSTATED_FILE_SIZE, PageError, PageFile, ProjectPage, UploadTime, render_html,
    render_index_html, render_index_json, render_json,
};
pub use upload::{
    DigestWriter, Digests, Inspected, Limits, LinkProblem, MAX_PATH_LEN, MAX_TREE_SIZE,
    PathProblem, UploadError, inspect, inspect_bytes,
};
pub use version::{MAX_VERSION_LEN, Version, VersionError};
