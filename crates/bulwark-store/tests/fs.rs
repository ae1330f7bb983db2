//! What the file-system blob store does beyond the conformance suite: where
//! files go, temporary files, and a tree that others have touched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bulwark_store::fs::{FsBlobs, STALE_TEMP_AGE};
use bulwark_store::{BlobStore, StoreError};

/// Every file under `root` whose name starts with `.tmp-`.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

fn write_temp(path: &Path, age: Duration) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::File::create(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn open_creates_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/blobs");
    let blobs = FsBlobs::open(&root).unwrap();
    assert!(root.is_dir());
    assert_eq!(blobs.root(), root);
}

#[test]
fn keys_map_to_files_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobs::open(dir.path()).unwrap();
    blobs.put("files/ab/pkg-1.0.tar.gz", b"sdist").unwrap();
    let path = blobs.path_of("files/ab/pkg-1.0.tar.gz").unwrap();
    assert_eq!(
        path,
        dir.path().join("files").join("ab").join("pkg-1.0.tar.gz")
    );
    assert_eq!(fs::read(&path).unwrap(), b"sdist");
    assert_eq!(
        blobs.path_of("not/there").unwrap(),
        dir.path().join("not/there")
    );
    assert!(matches!(
        blobs.path_of("../x"),
        Err(StoreError::InvalidKey(_))
    ));
    assert!(matches!(
        blobs.path_of("/etc/passwd"),
        Err(StoreError::InvalidKey(_))
    ));
}

#[test]
fn puts_leave_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobs::open(dir.path()).unwrap();
    for i in 0..10 {
        blobs.put(&format!("d{}/k", i % 3), b"bytes").unwrap();
    }
    blobs.put("top", b"x").unwrap();
    assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_failed_put_leaves_no_temporary_file_and_the_old_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobs::open(dir.path()).unwrap();
    blobs.put("a", b"file").unwrap();
    // `a` is a file, so `a/b` cannot be created: an error, not a panic.
    assert!(matches!(
        blobs.put("a/b", b"x"),
        Err(StoreError::Backend(_))
    ));
    // A directory where the key's file should go: the rename fails.
    blobs.put("d/inner", b"x").unwrap();
    assert!(matches!(blobs.put("d", b"x"), Err(StoreError::Backend(_))));
    assert_eq!(blobs.get("a").unwrap().as_deref(), Some(&b"file"[..]));
    assert_eq!(blobs.get("d/inner").unwrap().as_deref(), Some(&b"x"[..]));
    assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn batches_leave_no_temporary_files_committed_dropped_or_failed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobs::open(dir.path()).unwrap();
    let batch = blobs.batch();
    for i in 0..10 {
        batch.put(&format!("d{}/k{i}", i % 3), b"bytes").unwrap();
    }
    assert_eq!(
        temp_files(dir.path()).len(),
        10,
        "staged files are temporary"
    );
    batch.commit().unwrap();
    assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());

    let dropped = blobs.batch();
    dropped.put("d0/dropped", b"x").unwrap();
    drop(dropped);
    assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());

    // A directory where a staged key's file should go: its rename fails,
    // the blobs renamed before it stay whole, the rest are removed.
    blobs.put("taken/inner", b"x").unwrap();
    let failing = blobs.batch();
    failing.put("first", b"1").unwrap();
    failing.put("taken", b"2").unwrap();
    failing.put("last", b"3").unwrap();
    assert!(matches!(failing.commit(), Err(StoreError::Backend(_))));
    assert_eq!(blobs.get("first").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(blobs.get("last").unwrap(), None);
    assert_eq!(
        blobs.get("taken/inner").unwrap().as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn open_removes_only_stale_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let stale = root.join("files/ab/.tmp-123-0");
    let stale_top = root.join(".tmp-123-1");
    let fresh = root.join("files/.tmp-456-0");
    write_temp(&stale, STALE_TEMP_AGE + Duration::from_mins(1));
    write_temp(&stale_top, Duration::from_hours(24));
    write_temp(&fresh, Duration::ZERO);
    fs::write(root.join("files/ab/keep"), b"blob").unwrap();

    let blobs = FsBlobs::open(root).unwrap();
    assert_eq!(
        temp_files(root),
        std::slice::from_ref(&fresh),
        "only the fresh temporary file stays"
    );
    assert_eq!(
        blobs.list("").unwrap(),
        ["files/ab/keep"],
        "temporary files are not keys"
    );
    assert_eq!(blobs.remove_stale_temp_files(Duration::ZERO).unwrap(), 1);
    assert_eq!(temp_files(root), Vec::<PathBuf>::new());
    assert_eq!(
        blobs.get("files/ab/keep").unwrap().as_deref(),
        Some(&b"blob"[..])
    );
}

#[test]
fn invalid_keys_never_touch_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(dir.path().join("outside"), b"secret").unwrap();
    let blobs = FsBlobs::open(&root).unwrap();
    for key in ["../escape", "../outside", "/tmp/escape", "a/../../escape"] {
        assert!(matches!(
            blobs.put(key, b"x"),
            Err(StoreError::InvalidKey(_))
        ));
        assert!(matches!(blobs.get(key), Err(StoreError::InvalidKey(_))));
        assert!(matches!(blobs.delete(key), Err(StoreError::InvalidKey(_))));
    }
    assert!(!dir.path().join("escape").exists());
    assert_eq!(fs::read(dir.path().join("outside")).unwrap(), b"secret");
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
}

#[test]
fn entries_that_are_not_keys_are_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let blobs = FsBlobs::open(root).unwrap();
    blobs.put("d/real", b"x").unwrap();
    fs::write(root.join("d/back\\slash"), b"x").unwrap();
    fs::write(root.join("d/.tmp-1-1"), b"x").unwrap();
    std::os::unix::fs::symlink(root.join("d/real"), root.join("d/link")).unwrap();
    std::os::unix::fs::symlink(root.join("d"), root.join("dirlink")).unwrap();
    let non_utf8 = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"d/\xff");
    fs::write(root.join(non_utf8), b"x").unwrap();
    assert_eq!(blobs.list("").unwrap(), ["d/real"]);
}
