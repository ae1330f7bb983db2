//! What the mirror serves right now: the project pages of the snapshot
//! `timestamp.json` names, rebuilt whenever that file changes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use bulwark_layout as layout;
use bulwark_store::BlobStore;

use crate::error::SyncError;

/// The pages of the current snapshot, by project.
#[derive(Debug, Default)]
pub struct Pages {
    /// Blob key of each project's signed page, by normalized name.
    pub by_project: BTreeMap<String, String>,
}

/// A cache of [`Pages`], keyed by the bytes of `timestamp.json`.
#[derive(Debug, Default)]
pub struct View {
    cached: Mutex<Option<(Vec<u8>, Arc<Pages>)>>,
}

impl View {
    /// The pages of the snapshot `blobs`' `timestamp.json` names.
    pub fn pages(&self, blobs: &dyn BlobStore) -> Result<Arc<Pages>, SyncError> {
        let timestamp = blobs.get(layout::TIMESTAMP_KEY)?.unwrap_or_default();
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((bytes, pages)) = cached.as_ref()
            && *bytes == timestamp
        {
            return Ok(pages.clone());
        }
        let pages = Arc::new(Pages {
            by_project: crate::gc::current_pages(blobs)?,
        });
        *cached = Some((timestamp, pages.clone()));
        Ok(pages)
    }
}
