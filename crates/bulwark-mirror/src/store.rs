//! The mirror directory as the [`Updater`](bulwark_client::Updater)'s
//! metadata store: the updater verifies, this decides where and when the
//! mirror keeps what it verified.
//!
//! ```text
//! read_local(role, V)  ◀─ tuf/metadata/V.<role>.json, timestamp.json (the rollback baselines)
//! persist(snapshot or a targets role, V) ─▶ tuf/metadata/V.<role>.json at once (a new name:
//!                                           invisible until a timestamp names it)
//! persist(root, N)      ─▶ held: the chain to publish with the snapshot
//! persist(timestamp)    ─▶ held: written last, once everything it names is in place
//! ```

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bulwark_client::MetadataStore;
use bulwark_layout::{self as layout, TIMESTAMP_KEY};
use bulwark_store::BlobStore as _;
use bulwark_store::fs::FsBlobs;
use bulwark_tuf::names::RoleName;

/// Downloads counted for the sync report.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Files handled (present or downloaded).
    pub files: AtomicU64,
    /// Files downloaded.
    pub downloaded: AtomicU64,
    /// Bytes downloaded.
    pub bytes: AtomicU64,
}

impl Counters {
    pub(crate) fn downloaded(&self, bytes: u64) {
        self.downloaded.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct MirrorStore {
    blobs: Arc<FsBlobs>,
    counters: Arc<Counters>,
    /// Root versions accepted, oldest first, not yet written.
    roots: Vec<(u64, Vec<u8>)>,
    /// The accepted timestamp, not yet written.
    timestamp: Option<Vec<u8>>,
    /// Roles whose stored copy is no baseline any more (§5.3.11). The
    /// served files stay until a new timestamp replaces them.
    forgotten: BTreeSet<RoleName>,
}

impl MirrorStore {
    pub(crate) fn new(blobs: Arc<FsBlobs>, counters: Arc<Counters>) -> Self {
        Self {
            blobs,
            counters,
            roots: Vec::new(),
            timestamp: None,
            forgotten: BTreeSet::new(),
        }
    }

    /// The root versions accepted so far, oldest first; forgotten here.
    pub(crate) fn take_roots(&mut self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(&mut self.roots)
    }

    /// The timestamp accepted, if it changed.
    pub(crate) fn timestamp(&self) -> Option<&[u8]> {
        self.timestamp.as_deref()
    }

    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.blobs.get(key).map_err(io::Error::other)
    }
}

impl MetadataStore for MirrorStore {
    fn location(&self) -> &Path {
        self.blobs.root()
    }

    fn read_local(&self, role: &RoleName, version: Option<u64>) -> io::Result<Option<Vec<u8>>> {
        if self.forgotten.contains(role) {
            return Ok(None);
        }
        if role.as_str() == RoleName::TIMESTAMP {
            return self.get(TIMESTAMP_KEY);
        }
        // Everything else is kept under its version only.
        match version {
            Some(version) => self.get(&layout::metadata_key(role.as_str(), version)),
            None => Ok(None),
        }
    }

    fn persist(&mut self, role: &RoleName, version: u64, bytes: &[u8]) -> io::Result<()> {
        self.counters.downloaded(bytes.len() as u64);
        match role.as_str() {
            RoleName::ROOT => self.roots.push((version, bytes.to_vec())),
            RoleName::TIMESTAMP => self.timestamp = Some(bytes.to_vec()),
            _ => self
                .blobs
                .put(&layout::metadata_key(role.as_str(), version), bytes)
                .map_err(io::Error::other)?,
        }
        Ok(())
    }

    fn forget(&mut self, role: &RoleName) -> io::Result<()> {
        self.forgotten.insert(role.clone());
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Every blob put is durable when it returns.
        Ok(())
    }
}
