//! Counts of backend failures in this process, by store, for the
//! server's metrics: each backend makes its [`StoreError::Backend`] here
//! (only starting a store's I/O runtime fails otherwise, before any
//! operation).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;

/// Which store a backend failure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// The state store (`SQLite`, `PostgreSQL`).
    State,
    /// The blob store (files, S3).
    Blobs,
}

static STATE: AtomicU64 = AtomicU64::new(0);
static BLOBS: AtomicU64 = AtomicU64::new(0);

fn counter(store: Store) -> &'static AtomicU64 {
    match store {
        Store::State => &STATE,
        Store::Blobs => &BLOBS,
    }
}

/// A backend failure of `store`, counted.
pub(crate) fn failed(
    store: Store,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    counter(store).fetch_add(1, Ordering::Relaxed);
    StoreError::Backend(Box::new(error))
}

/// How many backend failures of `store` this process has seen.
#[must_use]
pub fn count(store: Store) -> u64 {
    counter(store).load(Ordering::Relaxed)
}
