//! Mirroring a Bulwark index (PEP 458 "Mirroring Protocol", DESIGN.md §6):
//! copy its newest consistent snapshot so that the copy needs no trust, and
//! serve that copy read-only at the index's own URLs.
//!
//! It owns the order in which a snapshot is copied and the mirror's
//! retention of old snapshots. It does not verify anything itself: every
//! piece of metadata goes through `bulwark-client`'s
//! [`Updater`](bulwark_client::Updater) over the mirror directory
//! (`store.rs`), every page and file through its verified download.
//!
//! ```text
//! sync:  N.root.json … ─▶ timestamp ─▶ V.snapshot.json ─▶ every targets role (all bins)
//!        (Updater)          (held)       (Updater)           (Updater, vs. its delegator)
//!          ─▶ every page target (length + hashes) ─▶ every file and .metadata (size + sha256)
//!          ─▶ N.root.json written ─▶ history ─▶ tuf/metadata/timestamp.json (last) ─▶ gc
//! serve: tuf/metadata/timestamp.json ─▶ current snapshot ─▶ bins ─▶ /simple/<name>/ = signed page
//! ```
//!
//! The mirror directory has exactly the index's blob layout
//! (`tuf/metadata/…`, `tuf/targets/simple/<name>/<sha256>.index.json`,
//! `files/<sha256>/<filename>[.metadata]`), so any static web server can
//! serve it too. Everything but `timestamp.json` is written under a name
//! that never changes meaning, so an interrupted sync leaves the previous
//! snapshot whole and servable.

mod error;
pub mod gc;
pub mod serve;
mod store;
pub mod sync;
pub mod view;

pub use error::SyncError;
pub use sync::{Progress, SyncOptions, SyncReport, sync};
