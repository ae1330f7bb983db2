//! The one home of atomic file writes in Bulwark. The blob store, the
//! client's metadata directory, the proxy's cache and the mirror all write
//! through it, so a crash leaves either the old file or the new one under a
//! name, never a mix:
//!
//! ```text
//! <dir>/.tmp-XXXXXX ─write, fsync─▶ rename onto <dir>/<name> ─▶ fsync <dir> (durable rename)
//! ```
//!
//! Temporary files start with [`TEMP_PREFIX`], which no blob key and no
//! metadata file name may start with, so a leftover is recognisable and
//! never mistaken for data. Every error names the path it concerns (through
//! `fs-err`), so callers need no hand-written "cannot X path" wrappers.

use std::io::{self, Write as _};
use std::path::Path;

pub use fs_err as fs;
pub use tempfile::NamedTempFile;

/// The name prefix of every temporary file this crate creates.
pub const TEMP_PREFIX: &str = ".tmp-";

/// An I/O error that names `path` and what was being done, the way `fs-err`
/// reports the operations it wraps (the cause is its source).
#[must_use]
pub fn error_at(action: &'static str, path: &Path, source: io::Error) -> io::Error {
    io::Error::new(
        source.kind(),
        PathError {
            action,
            path: path.to_owned(),
            source,
        },
    )
}

/// See [`error_at`].
#[derive(Debug)]
struct PathError {
    action: &'static str,
    path: std::path::PathBuf,
    source: io::Error,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "failed to {} `{}`", self.action, self.path.display())
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A new temporary file in `dir` (which must exist), removed when dropped
/// unless [`persist`]ed.
pub fn temp_file_in(dir: &Path) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| error_at("create a temporary file in", dir, e))
}

/// Makes `temp`'s bytes durable and renames it onto `dest` (same file
/// system). The rename is durable once `dest`'s directory is synced
/// ([`sync_dir`]); on error the temporary file is removed.
pub fn persist(temp: NamedTempFile, dest: &Path) -> io::Result<()> {
    temp.as_file()
        .sync_all()
        .map_err(|e| error_at("sync", temp.path(), e))?;
    temp.persist(dest)
        .map(drop)
        .map_err(|e| error_at("rename a temporary file onto", dest, e.error))
}

/// Writes `bytes` to `dest` atomically: a temporary file beside it, fsync,
/// rename. The rename is not durable until the directory is synced, so that
/// several files can share one [`sync_dir`].
pub fn replace(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = temp_file_in(parent_dir(dest))?;
    temp.write_all(bytes)
        .map_err(|e| error_at("write", temp.path(), e))?;
    persist(temp, dest)
}

/// Writes `bytes` to `dest` atomically and durably ([`replace`], then the
/// directory is synced).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(dest, bytes)?;
    sync_dir(parent_dir(dest))
}

/// Creates the file `dest` holding `bytes`, with Unix permission bits
/// `mode` from its first byte on, refusing to replace an existing file:
/// written and synced under a temporary name, then linked into place (so a
/// crash never leaves a short key or signature file under its name), and
/// the directory synced.
pub fn create_new(dest: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = parent_dir(dest);
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| error_at("create a temporary file in", dir, e))?;
    temp.write_all(bytes)
        .map_err(|e| error_at("write", temp.path(), e))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| error_at("sync", temp.path(), e))?;
    temp.persist_noclobber(dest)
        .map_err(|e| error_at("create", dest, e.error))?;
    sync_dir(dir)
}

/// Makes the renames, creations and removals in `dir` so far durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents; each directory created is made
/// durable in its parent, so that files later made durable inside it do not
/// vanish with it in a crash.
pub fn create_dir_all_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(up) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all_durable(up)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent_dir(dir)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// The directory `path` is in: its parent, or `.` for a bare file name.
#[must_use]
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.json");
        write_atomic(&dest, b"one").unwrap();
        replace(&dest, b"two").unwrap();
        sync_dir(dir.path()).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/file");
        let error = write_atomic(&missing, b"x").unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&dir.path().join("no/such/dir").display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn temporary_files_carry_the_reserved_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let temp = temp_file_in(dir.path()).unwrap();
        let name = temp
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(name.starts_with(TEMP_PREFIX), "{name}");
        drop(temp);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn new_files_get_their_mode_and_never_replace_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("a.key");
        create_new(&key, b"secret", 0o600).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let error = create_new(&key, b"other", 0o600).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists, "{error}");
        assert!(error.to_string().contains("a.key"), "{error}");
        assert_eq!(std::fs::read(&key).unwrap(), b"secret");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn directories_are_created_with_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all_durable(&deep).unwrap();
        create_dir_all_durable(&deep).unwrap();
        assert!(deep.is_dir());
    }
}
