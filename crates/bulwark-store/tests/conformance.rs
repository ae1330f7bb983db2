//! The conformance suite against the embedded backends: `SQLite` (in memory
//! and on disk) and the local file system.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use bulwark_store::conformance::{
    blob_store_reopen_suite, blob_store_suite, state_store_reopen_suite, state_store_suite,
};
use bulwark_store::fs::FsBlobs;
use bulwark_store::sqlite::SqliteState;

#[test]
fn sqlite_in_memory_passes_the_state_suite() {
    state_store_suite(&|| Box::new(SqliteState::in_memory().unwrap()));
}

#[test]
fn sqlite_on_disk_passes_the_state_suite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    state_store_suite(&|| {
        let path = dir
            .path()
            .join(format!("{}.db", n.fetch_add(1, Ordering::Relaxed)));
        Box::new(SqliteState::open(&path).unwrap())
    });
}

#[test]
fn sqlite_on_disk_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    state_store_reopen_suite(&|| Box::new(SqliteState::open(&path).unwrap()));
}

#[test]
fn fs_passes_the_blob_suite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    blob_store_suite(&|| {
        let root = dir
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        Box::new(FsBlobs::open(&root).unwrap())
    });
}

#[test]
fn fs_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    blob_store_reopen_suite(&|| Box::new(FsBlobs::open(dir.path()).unwrap()));
}
