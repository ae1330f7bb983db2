//! The client side of Bulwark: downloads with limits, the local metadata
//! directory, and the [`Updater`] that runs the TUF client workflow against
//! a repository over HTTP using the sans-IO core in `bulwark-tuf`.
//!
//! ```text
//! Updater ──fetch (caps, timeouts)──▶ repository
//!    │ bytes
//!    ▼
//! bulwark_tuf::TrustedSet ──accepted──▶ MetadataDir (atomic, exact bytes)
//! ```

pub mod fetch;
pub mod store;
pub mod updater;

pub use fetch::{FetchConfig, FetchError, Fetcher};
pub use store::MetadataDir;
pub use updater::{Download, Limits, TargetFetcher, UpdateError, Updater};
