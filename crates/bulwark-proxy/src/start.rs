//! Why the proxy cannot start: each message says what is wrong and what
//! to try, on one line.

use std::path::PathBuf;

use bulwark_tuf::Refused;

use crate::ProxyError;

/// Why the proxy did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Another process holds the state directory.
    #[error(
        "the proxy cache {} is in use by another bulwark proxy ({holder}) for the same root and upstream; stop that one, or give this one another cache directory",
        dir.display()
    )]
    InUse {
        /// The state directory.
        dir: PathBuf,
        /// What the lock file says about its holder (`pid N`).
        holder: String,
    },
    /// The state directory cannot be created, locked or written.
    #[error("cannot use the proxy cache {}", dir.display())]
    Cache {
        /// The state directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The upstream answers 404 (or 403) where its TUF metadata should be:
    /// the URL is not the base URL of an index or mirror.
    #[error(
        "the upstream {upstream} serves no TUF metadata ({url} answered HTTP {status}); {hint}"
    )]
    NotAnIndex {
        /// The upstream base URL as configured.
        upstream: String,
        /// The metadata file that was not found.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What to use instead.
        hint: String,
    },
    /// Metadata of the upstream is not signed by the keys the trusted root
    /// names: most likely the root of another index.
    #[error(
        "the trusted root does not match the upstream's: {url} is signed by other keys ({refused}); is --root the root.json of this index? If it is, the answer was tampered with"
    )]
    OtherRoot {
        /// The metadata file whose signatures did not verify.
        url: String,
        /// The refusal.
        refused: Refused,
    },
    /// The upstream answered with metadata the proxy refuses.
    #[error("the upstream's answer is {reason}")]
    Refused {
        /// The refusal, naming the URL.
        reason: String,
    },
    /// The upstream cannot be reached and the cache cannot serve.
    #[error(
        "{reason}, and the verified cache cannot serve in its place ({cache}); check the upstream URL, or start the proxy once the upstream is reachable"
    )]
    Unreachable {
        /// What could not be downloaded from where.
        reason: String,
        /// Why the cache cannot serve.
        cache: String,
    },
    /// The cache or the trusted root cannot be opened.
    #[error("cannot open the proxy cache {}", dir.display())]
    Open {
        /// The state directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: ProxyError,
    },
}
