//! Why a sync failed.

use bulwark_client::{FetchError, UpdateError};
use bulwark_store::StoreError;
use bulwark_tuf::hash::Mismatch;

/// Why `bulwark mirror sync` stopped. The mirror's `timestamp.json` is
/// unchanged whenever a sync returns one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The upstream's metadata could not be downloaded, or the trusted
    /// set refused it.
    #[error("updating the upstream's metadata failed")]
    Update(#[from] UpdateError),
    /// A download failed.
    #[error("downloading {url} failed")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: FetchError,
    },
    /// A downloaded target or file does not match its verified description.
    #[error("upstream {key} refused ({listed_in})")]
    Mismatch {
        /// The blob key of the file.
        key: String,
        /// Where its length and hashes come from.
        listed_in: String,
        /// How it differs.
        #[source]
        source: Mismatch,
    },
    /// A signed page cannot be read.
    #[error("the signed page of {project} is not a valid PEP 691 page")]
    BadPage {
        /// The project.
        project: String,
        /// Why.
        #[source]
        source: bulwark_pypi::PageError,
    },
    /// A signed page links to a file outside the layout a mirror can copy.
    #[error(
        "the signed page of {project} links to {url:?}, not ../../files/<sha256>/<filename>; it cannot be mirrored"
    )]
    BadFileUrl {
        /// The project.
        project: String,
        /// The link.
        url: String,
    },
    /// A target path a mirror cannot store under the same URL.
    #[error("target path {0:?} has an empty, '.', '..' or unusual segment; refusing to mirror it")]
    UnsafeTargetPath(String),
    /// The upstream does not use consistent snapshots, so there is no
    /// snapshot to copy without racing its publisher.
    #[error("the upstream root does not use consistent snapshots; a mirror needs them")]
    NotConsistent,
    /// The snapshot lists a role that no trusted role delegates to.
    #[error("the snapshot lists {0}, which no trusted targets role delegates to")]
    Unreachable(String),
    /// An older root the upstream serves does not lead to the trusted root.
    #[error("upstream root version {0} does not chain to the trusted root")]
    RootChain(u64),
    /// The destination holds a mirror of another repository: its root
    /// chain does not lead to or from the trusted root.
    #[error(
        "{dest} holds a mirror of another repository ({detail}); refusing to replace it: sync into an empty directory, or remove it first"
    )]
    OtherRepository {
        /// The mirror directory.
        dest: String,
        /// What differs.
        detail: String,
    },
    /// Reading or writing the mirror directory failed.
    #[error("mirror storage failed")]
    Store(#[from] StoreError),
    /// Reading or writing a file of the mirror failed (the error names
    /// the path).
    #[error("cannot read or write the mirror directory")]
    Io(#[from] std::io::Error),
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client")]
    Client(#[source] FetchError),
    /// Another sync is running on the same mirror.
    #[error("another `bulwark mirror sync` is running on {0}")]
    Busy(String),
    /// A download task panicked or was cancelled.
    #[error("a download task failed: {0}")]
    Task(String),
}

impl SyncError {
    pub(crate) fn fetch(url: &str) -> impl FnOnce(FetchError) -> Self + '_ {
        move |source| Self::Fetch {
            url: url.to_owned(),
            source,
        }
    }
}
