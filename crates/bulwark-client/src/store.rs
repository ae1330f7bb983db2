//! The local metadata directory: the exact bytes of every trusted metadata
//! file, under unversioned names (`root.json`, `timestamp.json`,
//! `<percent-encoded role>.json`), each written atomically so that a crash
//! leaves either the old file or the new one, never a mix.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use bulwark_tuf::names::RoleName;

/// A directory of trusted metadata.
#[derive(Clone, Debug)]
pub struct MetadataDir {
    path: PathBuf,
}

impl MetadataDir {
    /// The directory at `path`, created if missing.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `role`'s metadata lives.
    #[must_use]
    pub fn file(&self, role: &RoleName) -> PathBuf {
        self.path.join(format!("{}.json", role.encoded()))
    }

    /// The stored bytes of `role`, or `None` when there are none.
    pub fn read(&self, role: &RoleName) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.file(role)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `bytes` as `role`'s metadata, atomically and durably.
    pub fn write(&self, role: &RoleName, bytes: &[u8]) -> io::Result<()> {
        write_atomic(&self.file(role), bytes)
    }

    /// Stores `bytes` as `role`'s metadata atomically: written and fsynced
    /// under a temporary name, then renamed into place. The rename is
    /// durable once [`MetadataDir::sync`] returns, so that several files
    /// can share one directory fsync.
    pub fn replace(&self, role: &RoleName, bytes: &[u8]) -> io::Result<()> {
        replace_atomic(&self.file(role), bytes)
    }

    /// Makes every rename and removal in the directory so far durable.
    pub fn sync(&self) -> io::Result<()> {
        fs::File::open(&self.path)?.sync_all()
    }

    /// Forgets `role`'s metadata.
    pub fn remove(&self, role: &RoleName) -> io::Result<()> {
        match fs::remove_file(self.file(role)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes `bytes` to `dest` through a temporary file in the same directory
/// (whose name does not end in `.json`), fsync and rename, then fsyncs the
/// directory.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_atomic(dest, bytes)?;
    // Make the rename itself durable.
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dest` through a temporary file in the same directory
/// (whose name does not end in `.json`), fsync and rename; the rename is
/// not durable until the directory is fsynced.
fn replace_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    let result = (|| {
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        fs::rename(&tmp.0, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp.0);
    }
    result
}

/// Creates a new, uniquely named temporary file in `dir`.
pub(crate) fn tempfile_in(dir: &Path) -> io::Result<(PathBuf, fs::File)> {
    let pid = std::process::id();
    for attempt in 0u32..1000 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".bulwark-{pid}-{nanos}-{attempt}.tmp"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a temporary file",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_under_encoded_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataDir::open(dir.path().join("meta")).unwrap();
        let role = RoleName::new("../evil/role");
        store.write(&role, b"one").unwrap();
        store.write(&role, b"two").unwrap();
        assert_eq!(store.read(&role).unwrap().as_deref(), Some(&b"two"[..]));
        let names: Vec<_> = fs::read_dir(store.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("..%2Fevil%2Frole.json")]
        );
        store.remove(&role).unwrap();
        store.remove(&role).unwrap();
        assert_eq!(store.read(&role).unwrap(), None);
    }

    #[test]
    fn replaced_files_are_in_place_before_the_directory_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataDir::open(dir.path()).unwrap();
        let (a, b) = (RoleName::new("a"), RoleName::new("b"));
        store.replace(&a, b"one").unwrap();
        store.replace(&b, b"two").unwrap();
        store.replace(&a, b"three").unwrap();
        store.sync().unwrap();
        assert_eq!(store.read(&a).unwrap().as_deref(), Some(&b"three"[..]));
        assert_eq!(store.read(&b).unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(
            fs::read_dir(store.path()).unwrap().count(),
            2,
            "no temporary files left"
        );
    }
}
