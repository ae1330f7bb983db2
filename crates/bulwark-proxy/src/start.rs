//! Why the proxy cannot start: each message says what is wrong and what
//! to try, on one line.

use std::path::PathBuf;

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
