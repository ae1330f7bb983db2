//! Temporary files on local disk, shared by every [`crate::BlobStore`]:
//! uploads are streamed into one (`staging_file`), inspected, then stored,
//! and the file system store writes each blob through one before renaming
//! it into place. Their names start with [`RESERVED_PREFIX`], which no key
//! may contain; those a crash leaves behind are swept by
//! `remove_stale_temp_files` once no writer can still be using them.
//! Creating and syncing the files is `bulwark-fs`'s.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bulwark_fs::fs;

use crate::key::RESERVED_PREFIX;
use crate::{Result, StoreError};

/// A temporary file is removed by a sweep only when it has not been written
/// for this long: another process (a second server, a command-line tool)
/// may be using the same directory, and its upload or `put` in progress must
/// not lose its file. A `put` renames its file within moments of the last
/// write.
pub const STALE_TEMP_AGE: Duration = Duration::from_mins(10);

/// A storage failure; the I/O error names its path (for logs; the server
/// must not show it to clients).
pub(crate) fn backend(error: io::Error) -> StoreError {
    crate::failures::failed(crate::failures::Store::Blobs, error)
}

/// Errors that mean "there is nothing at this path": the path, or one of
/// its parents, does not exist or is a file.
pub(crate) fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// A new temporary file in `dir` (which must exist), removed when dropped
/// unless renamed.
pub(crate) fn create_temp(dir: &Path) -> Result<tempfile::NamedTempFile> {
    bulwark_fs::temp_file_in(dir).map_err(backend)
}

/// Removes the temporary files anywhere under `root` not written for
/// `older_than`, returning how many.
pub(crate) fn remove_stale_temp_files(root: &Path, older_than: Duration) -> Result<u64> {
    let now = SystemTime::now();
    let mut removed = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(backend)? {
            let entry = entry.map_err(backend)?;
            let path = entry.path();
            let kind = entry.file_type().map_err(backend)?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && entry
                    .file_name()
                    .as_encoded_bytes()
                    .starts_with(RESERVED_PREFIX.as_bytes())
            {
                let modified = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map_err(backend)?;
                // A time in the future (clock moved back) is not stale.
                let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
                if age >= older_than {
                    match fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if is_missing(&e) => {}
                        Err(e) => return Err(backend(e)),
                    }
                }
            }
        }
    }
    Ok(removed)
}
