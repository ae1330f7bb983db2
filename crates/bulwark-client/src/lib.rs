//! The client side of Bulwark: downloads with limits, the local metadata
//! directory, and the [`Updater`] that runs the TUF client workflow against
//! a repository over HTTP using the sans-IO core in `bulwark-tuf`.
//!
//! ```text
//! Updater ──fetch (caps, timeouts)──▶ repository
//!    │ bytes
//!    ▼
//! bulwark_tuf::TrustedSet ──accepted──▶ MetadataStore (MetadataDir: atomic, exact bytes;
//!                                                      a mirror: versioned blobs)
//! targets, pages, files ──download (cap, deadlines, length + hashes)──▶ verified file in place
//! ```

pub mod download;
pub mod fetch;
pub mod store;
pub mod updater;

pub use download::{
    DownloadError, Expected, HOLD_BACK, download_streaming, download_to, file_matches,
};
pub use fetch::{FetchConfig, FetchError, Fetcher, UpstreamToken};
pub use store::{MetadataDir, MetadataStore};
pub use updater::{Download, FoundTarget, Limits, TargetFetcher, UpdateError, Updater};
